// Where an event's resource leads. The service's own resources (the webhook, its deliveries, API keys)
// open inside the console, whatever the URL template; every other type goes through the operator's
// template (AUDITTRAIL_RESOURCE_URL_TEMPLATE), the customer's own app.

/** Types the service itself records: never sent through the template, which is for the customer's app. */
const OWN_TYPES = new Set([
  "ACCOUNT", "API_KEY", "USER", "AUDIT_TRAIL_WEBHOOK", "AUDIT_TRAIL_DELIVERY", "AUDIT_TRAIL_DIGEST", "AUDIT_TRAIL_REPLAY",
]);

/** Own types the Configuration tab (ADMIN only) has a place for: the URL query parameter and the menu label. */
const CONSOLE_PLACES = {
  AUDIT_TRAIL_WEBHOOK: { param: "webhook", label: "Go to the webhook" },
  AUDIT_TRAIL_DELIVERY: { param: "delivery", label: "Open the delivery" },
  API_KEY: { param: "key", label: "Open the API key" },
  USER: { param: "key", label: "Open the API key" },  // a login's USER is the key acting as itself
};

export function resourceText(resource) {
  if (!resource) return null;
  return resource.resourceId ? `${resource.resourceType} / ${resource.resourceId}` : resource.resourceType;
}

/** The link of the "go to affected resource" item, or null when no template is set or it does not apply. */
export function resourceUrl(template, resource) {
  if (!template || !resource || OWN_TYPES.has(resource.resourceType)) return null;
  if (template.includes("{resourceId}") && !resource.resourceId) return null;
  const url = template
    .replaceAll("{resourceType}", encodeURIComponent(resource.resourceType))
    .replaceAll("{resourceId}", encodeURIComponent(resource.resourceId || ""));
  try {
    return ["http:", "https:"].includes(new URL(url, location.href).protocol) ? url : null;
  } catch {
    return null;
  }
}

/** The console query that shows an own resource, or null (no place for it, or the role cannot open it). */
export function consoleParams(resource, role) {
  const place = resource?.resourceId ? CONSOLE_PLACES[resource.resourceType] : null;
  if (!place || role !== "ADMIN") return null;
  return new URLSearchParams({ tab: "config", [place.param]: resource.resourceId });
}

/**
 * The menu item that goes to `resource`: inside the console for own resources, through the template
 * (labelled `externalLabel`) for the rest, or null. `app` gives the template, the viewer's role and navigation.
 */
export function resourceLinkItem(resource, app, externalLabel) {
  const params = consoleParams(resource, app.viewer?.role);
  if (params) {
    return { label: CONSOLE_PLACES[resource.resourceType].label, href: `/?${params}`, onSelect: () => app.navigate(params) };
  }
  const href = resourceUrl(app.config.resourceUrlTemplate, resource);
  return href ? { label: externalLabel, href, external: true } : null;
}
