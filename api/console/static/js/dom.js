// Small DOM helpers: build elements without innerHTML, so nothing from the server is ever parsed as markup.

/**
 * Create an element. `attrs` keys: `class`, `text`, `on<Event>` handlers, `dataset`, boolean
 * attributes (true adds, false/null/undefined omits) and plain attributes.
 */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") element.className = value;
    else if (name === "text") element.textContent = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2).toLowerCase(), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace the element's children. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

let idCounter = 0;
/** A unique id for label/aria wiring. */
export function uid(prefix = "id") {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

// Local time in one fixed, sortable shape with its zone ("2026-11-26 07:30:18 UTC"): the locale's
// 12-hour and month-name forms are longer and were cut in the table's time column.
const localFormat = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
  hourCycle: "h23", timeZoneName: "short", numberingSystem: "latn",
});

/**
 * The date, time and zone of `date` in the viewer's zone, to the second; `precision` "ms" adds the
 * milliseconds, "minute" drops the seconds.
 */
function localParts(date, precision = "second") {
  const part = Object.fromEntries(localFormat.formatToParts(date).map(({ type, value }) => [type, value]));
  let time = `${part.hour}:${part.minute}`;
  if (precision !== "minute") time += `:${part.second}`;
  if (precision === "ms") time += `.${String(date.getMilliseconds()).padStart(3, "0")}`;
  return { dateTime: `${part.year}-${part.month}-${part.day} ${time}`, zone: part.timeZoneName };
}

/** Local time of unix `seconds` with its zone, for display: "2026-11-26 07:30:18 UTC". */
export function localTime(seconds, { precision = "second" } = {}) {
  const { dateTime, zone } = localParts(new Date(seconds * 1000), precision);
  return `${dateTime} ${zone}`;
}

/** UTC time of unix `seconds`, ISO 8601. */
export function utcTime(seconds) {
  return new Date(seconds * 1000).toISOString().replace(".000Z", "Z");
}

/**
 * A `<time>` element: local time and zone shown (the zone may wrap under the time, never be cut),
 * UTC in the tooltip.
 */
export function timeElement(seconds, { precision = "second" } = {}) {
  if (seconds === null || seconds === undefined) return h("span", { class: "muted", text: "—" });
  const { dateTime, zone } = localParts(new Date(seconds * 1000), precision);
  return h("time", { class: "local-time", datetime: utcTime(seconds), title: `UTC ${utcTime(seconds)}` },
    h("span", { class: "nowrap", text: dateTime }), " ", h("span", { class: "nowrap zone", text: zone }));
}

/** "3 min ago" style wording for unix `seconds`, past or future. */
export function relativeTime(seconds) {
  const delta = Math.round(seconds - Date.now() / 1000);
  const units = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  const format = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  for (const [unit, size] of units) {
    if (Math.abs(delta) >= size || unit === "second") return format.format(Math.trunc(delta / size), unit);
  }
  return "";
}

/** A live region message: `role=status` for news, `role=alert` for errors. */
export function notice(kind, message) {
  return h("div", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status", text: message });
}

/**
 * The mark of an event another service sent in (`recordedBy` is the key that did): its actor and
 * time are what that service claims, not what the audit trail saw. Null for the service's own events.
 */
export function ingestedBadge(recordedBy) {
  if (!recordedBy) return null;
  return h("span", { class: "badge badge-ingested", title: `Recorded through auditTrailRecordEvents by ${recordedBy}`, text: `ingested by ${recordedBy}` });
}

/** Spacelift's coloured CREATE / UPDATE / DELETE badge; a run state change says so beside it. */
export function eventTypeBadge(eventType, runStateChange) {
  const badge = h("span", { class: `badge event-${eventType.toLowerCase()}`, text: eventType });
  return runStateChange ? h("span", { class: "event-type" }, badge, h("span", { class: "badge badge-run", text: "RUN" })) : badge;
}
