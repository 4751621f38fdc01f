// The Logs tab's Export: what the current filters show, as CSV or NDJSON, through /export. The file is
// fetched with the session's token (an <a href> could not send it) and handed to the browser as a download.

import { ApiError, SessionExpired, loadSession } from "./api.js";

/** The download's file name from Content-Disposition, which names the account and the range. */
export function exportFileName(disposition, format) {
  const match = /filename="([^"]+)"/.exec(disposition || "");
  return match ? match[1] : `audittrail-export.${format}`;
}

/** Export the events `input` (a SearchInput) selects as `format` ("csv" or "ndjson") and save the file. */
export async function downloadExport(input, format) {
  const session = loadSession();
  if (!session || session.validUntil * 1000 <= Date.now()) {
    throw new SessionExpired("Your session has expired. Sign in again.", "UNAUTHENTICATED");
  }
  let response;
  try {
    response = await fetch(`/export?format=${encodeURIComponent(format)}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${session.jwt}` },
      body: JSON.stringify(input),
    });
  } catch (error) {
    throw new ApiError(`Cannot reach the audit trail API (${error.message}).`, "NETWORK");
  }
  if (!response.ok) {
    const payload = await response.json().catch(() => ({}));
    const first = (payload.errors || [])[0] || {};
    const code = (first.extensions || {}).code || "ERROR";
    const message = first.message || `The export failed (HTTP ${response.status}).`;
    throw code === "UNAUTHENTICATED" ? new SessionExpired(message, code) : new ApiError(message, code);
  }
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), { href: url, download: exportFileName(response.headers.get("content-disposition"), format) });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
