// The GraphQL client and the signed-in session. The JWT lives in sessionStorage only (never localStorage
// or the URL); the key secret is never stored at all.

const SESSION_KEY = "audittrail.session";

export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

/** Raised when the token is missing, expired or refused; the app goes back to sign-in. */
export class SessionExpired extends ApiError {}

export function loadSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
    return session && session.jwt ? session : null;
  } catch {
    return null;
  }
}

export function saveSession(session) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

export function clearSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

function isExpired(session) {
  return !session || session.validUntil * 1000 <= Date.now();
}

/** POST one operation to /graphql; returns `data` or throws ApiError with the server's message and code. */
export async function gql(query, variables = {}, { authenticated = true } = {}) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (authenticated) {
    const session = loadSession();
    if (isExpired(session)) throw new SessionExpired("Your session has expired. Sign in again.", "UNAUTHENTICATED");
    headers.Authorization = `Bearer ${session.jwt}`;
  }
  let response;
  try {
    response = await fetch("/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  } catch (error) {
    throw new ApiError(`Cannot reach the audit trail API (${error.message}).`, "NETWORK");
  }
  let payload;
  try {
    payload = await response.json();
  } catch {
    throw new ApiError(`The API answered ${response.status} without a JSON body.`, "BAD_RESPONSE");
  }
  const firstError = (payload.errors || [])[0];
  if (firstError) {
    const code = (firstError.extensions || {}).code || "ERROR";
    if (code === "UNAUTHENTICATED" && authenticated) {
      throw new SessionExpired("Your session has expired or was revoked. Sign in again.", code);
    }
    throw new ApiError(firstError.message, code);
  }
  return payload.data;
}
