// What the user is told when a request is refused: the fields the API named, or one sentence per status.
import { ApiError } from "./api";
import type { Translate } from "./i18n";

export function describeError(error: unknown, t: Translate): string[] {
  if (!(error instanceof ApiError)) return [t("error.network")];
  if (error.fields.length) return error.fields.map((f) => t("error.field", { field: f.field, message: f.message }));
  switch (error.status) {
    case 403:
      return [t("error.forbidden")];
    case 409:
      return [t("error.conflict", { detail: error.detail ?? "" })];
    case 503:
      return [t("error.unavailable")];
    default:
      return [t("error.generic", { status: error.status, detail: error.detail ?? error.code ?? "" })];
  }
}
