// The fields of a Logs row, selected by the search (logs.js) and by the live tail (live.js) alike, so a
// pushed row and a searched row are the same object.
export const ROW_FIELDS =
  "id action eventType runStateChange actor { username } recordedBy affectedResource { resourceType resourceId } remoteIP timestamp";
