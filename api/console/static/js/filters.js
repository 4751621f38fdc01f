// The Logs filter state: read from and written to the URL (shareable, back button works), and turned
// into the API's search predicates.

export const FACETS = [
  { field: "action", label: "Action" },
  { field: "actor", label: "Actor" },
  { field: "eventType", label: "Event type", isEnum: true },
  { field: "affectedResourceType", label: "Resource type" },
];
/** Fields that can be filtered on from the table, beyond the sidebar's facets. */
const EXTRA_FIELDS = [
  { field: "affectedResourceId", label: "Resource id" },
  { field: "relatedResourceType", label: "Related resource type" },
  { field: "relatedResourceId", label: "Related resource id" },
];
export const FILTER_FIELDS = [...FACETS, ...EXTRA_FIELDS];

export const RANGES = [
  { id: "1h", label: "Last hour", seconds: 3600 },
  { id: "24h", label: "Last 24 hours", seconds: 86400 },
  { id: "7d", label: "Last 7 days", seconds: 7 * 86400 },
  { id: "30d", label: "Last 30 days", seconds: 30 * 86400 },
];
export const DEFAULT_RANGE = "7d";
const EXCLUDE_PREFIX = "not.";

export function labelOf(field) {
  return FILTER_FIELDS.find((facet) => facet.field === field)?.label ?? field;
}

function parseSeconds(value) {
  const seconds = Number.parseInt(value ?? "", 10);
  return Number.isFinite(seconds) ? seconds : null;
}

/** The filter state held in the URL query `params`. */
export function readFilters(params) {
  const state = { text: (params.get("q") || "").trim(), range: params.get("range") || DEFAULT_RANGE, from: null, to: null, include: {}, exclude: {} };
  if (state.range === "custom") {
    state.from = parseSeconds(params.get("from"));
    state.to = parseSeconds(params.get("to"));
    if (state.from === null && state.to === null) state.range = DEFAULT_RANGE;
  } else if (!RANGES.some((range) => range.id === state.range)) {
    state.range = DEFAULT_RANGE;
  }
  for (const { field } of FILTER_FIELDS) {
    const included = [...new Set(params.getAll(field).filter(Boolean))];
    const excluded = [...new Set(params.getAll(EXCLUDE_PREFIX + field).filter(Boolean))];
    if (included.length) state.include[field] = included;
    if (excluded.length) state.exclude[field] = excluded;
  }
  return state;
}

/** The URL query for `state` (defaults left out, so a plain `/` is the default view). */
export function writeFilters(state) {
  const params = new URLSearchParams();
  for (const { field } of FILTER_FIELDS) {
    for (const value of state.include[field] || []) params.append(field, value);
    for (const value of state.exclude[field] || []) params.append(EXCLUDE_PREFIX + field, value);
  }
  if (state.text) params.set("q", state.text);
  if (state.range !== DEFAULT_RANGE) params.set("range", state.range);
  if (state.range === "custom") {
    if (state.from !== null) params.set("from", String(state.from));
    if (state.to !== null) params.set("to", String(state.to));
  }
  return params;
}

/** A copy of `state` with `value` added to (or removed from) the include or exclude list of `field`. */
export function withValue(state, field, value, { exclude = false, present = true } = {}) {
  const next = structuredClone(state);
  const lists = exclude ? next.exclude : next.include;
  const others = exclude ? next.include : next.exclude;
  const values = new Set(lists[field] || []);
  if (present) values.add(value);
  else values.delete(value);
  lists[field] = [...values];
  if (present && others[field]) others[field] = others[field].filter((other) => other !== value);
  for (const group of [next.include, next.exclude]) {
    for (const [key, list] of Object.entries(group)) if (!list.length) delete group[key];
  }
  return next;
}

export function hasFilters(state) {
  return Boolean(state.text) || Object.keys(state.include).length > 0 || Object.keys(state.exclude).length > 0;
}

export function withoutFilters(state) {
  return { ...structuredClone(state), text: "", include: {}, exclude: {} };
}

/** The time window of `state` in unix seconds, presets measured back from `nowSeconds`. */
export function timeWindow(state, nowSeconds) {
  if (state.range === "custom") return { start: state.from, end: state.to };
  const preset = RANGES.find((range) => range.id === state.range);
  return { start: Math.floor(nowSeconds - preset.seconds), end: null };
}

function constraintFor(field, values) {
  const isEnum = FACETS.some((facet) => facet.field === field && facet.isEnum);
  return isEnum ? { enumEquals: values } : { stringMatches: values };
}

/** The search predicates for `state`: values of one field OR'ed, fields AND'ed, exclusions subtracted. */
export function predicatesOf(state, nowSeconds) {
  const predicates = [];
  for (const { field } of FILTER_FIELDS) {
    if (state.include[field]) predicates.push({ field, constraint: constraintFor(field, state.include[field]) });
    if (state.exclude[field]) predicates.push({ field, constraint: constraintFor(field, state.exclude[field]), exclude: true });
  }
  const { start, end } = timeWindow(state, nowSeconds);
  if (start !== null || end !== null) predicates.push({ field: "createdAt", constraint: { timeInRange: { start, end } } });
  return predicates;
}
