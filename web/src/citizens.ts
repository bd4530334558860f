// The citizen's name and CPR number per episode, read once per session and kept in memory only.
import { ApiError } from "./api";
import type { Api, Citizen } from "./api";

export class CitizenCache {
  private readonly known = new Map<string, Promise<Citizen | null>>();

  constructor(private readonly api: Api) {}

  /** The episode's citizen, or null when the caller may not see it (403) or there is none (404). */
  get(episodeId: string): Promise<Citizen | null> {
    let citizen = this.known.get(episodeId);
    if (!citizen) {
      citizen = this.api.citizen(episodeId).catch((error: unknown) => {
        // A refusal is an answer and is kept; anything else (an outage) is asked again next time.
        if (!(error instanceof ApiError && (error.status === 403 || error.status === 404))) this.known.delete(episodeId);
        return null;
      });
      this.known.set(episodeId, citizen);
    }
    return citizen;
  }
}
