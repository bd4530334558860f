// Hash routing: #/ the worklist, #/episodes/<id> an episode, #/episodes/<id>/access-log its access log.
export type Route =
  | { page: "worklist" }
  | { page: "episode"; episodeId: string }
  | { page: "access-log"; episodeId: string }
  | { page: "not-found" };

const EPISODE_ID = "([A-Za-z0-9_-]{1,64})";

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, "") || "/";
  if (path === "/") return { page: "worklist" };
  let match = new RegExp(`^/episodes/${EPISODE_ID}$`).exec(path);
  if (match) return { page: "episode", episodeId: match[1]! };
  match = new RegExp(`^/episodes/${EPISODE_ID}/access-log$`).exec(path);
  if (match) return { page: "access-log", episodeId: match[1]! };
  return { page: "not-found" };
}

export function episodeHref(episodeId: string): string {
  return `#/episodes/${encodeURIComponent(episodeId)}`;
}

export function accessLogHref(episodeId: string): string {
  return `#/episodes/${encodeURIComponent(episodeId)}/access-log`;
}
