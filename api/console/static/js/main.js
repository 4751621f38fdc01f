// Console entry point: session, shell (header and sections), and URL routing between the sections.

import { clearSession, gql, loadSession, SessionExpired } from "./api.js";
import { h } from "./dom.js";
import { LogsView } from "./logs.js";
import { renderSignIn } from "./signin.js";
import { ConfigView } from "./webhook.js";

const VIEWER = `query Viewer { viewer { id name role account { id name retentionDays } } }`;
const root = document.getElementById("app");
const app = { config: {}, viewer: null, view: null, viewName: null, main: null, navigate, fail };

async function start() {
  try {
    app.config = await (await fetch("/console/config.json")).json();
  } catch {
    app.config = {};
  }
  window.addEventListener("popstate", () => route());
  if (loadSession()) await enter();
  else signOut();
}

/** Load who the token is and show the console. */
async function enter() {
  try {
    app.viewer = (await gql(VIEWER)).viewer;
  } catch (error) {
    signOut(error instanceof SessionExpired ? error.message : `Could not load your account: ${error.message}`);
    return;
  }
  if (app.viewer.role === "SERVICE") {
    signOut("This is a SERVICE key: it can record events but not read them. Sign in with an ADMIN or READER key.");
    return;
  }
  scheduleExpiry();
  renderShell();
  route();
}

/** Go back to sign-in when the token runs out, rather than on the next failed request. */
function scheduleExpiry() {
  clearTimeout(app.expiryTimer);
  const session = loadSession();
  if (!session) return;
  const remaining = Math.min(session.validUntil * 1000 - Date.now(), 2 ** 31 - 1);
  app.expiryTimer = setTimeout(() => signOut("Your session has expired. Sign in again."), Math.max(remaining, 0));
}

function signOut(message) {
  clearTimeout(app.expiryTimer);
  clearSession();
  app.viewer = null;
  app.view = null;
  app.viewName = null;
  renderSignIn(root, { message, onSignedIn: enter });
}

/** Errors from views: an expired session goes back to sign-in; anything else is the view's to show. */
function fail(error) {
  if (error instanceof SessionExpired) {
    signOut(error.message);
    return true;
  }
  return false;
}

/** Change the URL's query (pushing a history entry unless `replace`) and re-render. */
function navigate(params, { replace = false } = {}) {
  const query = params.toString();
  const url = query ? `/?${query}` : "/";
  if (url !== `${location.pathname}${location.search}`) {
    if (replace) history.replaceState(null, "", url);
    else history.pushState(null, "", url);
  }
  route();
}

function sectionOf(params) {
  return params.get("tab") === "config" && app.viewer.role === "ADMIN" ? "config" : "logs";
}

function route() {
  if (!app.viewer) return;
  const params = new URLSearchParams(location.search);
  const section = sectionOf(params);
  for (const link of document.querySelectorAll(".sections a")) {
    if (link.dataset.section === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (app.viewName !== section) {
    app.view?.destroy?.();
    app.viewName = section;
    app.view = section === "config" ? new ConfigView(app) : new LogsView(app);
    app.main.replaceChildren(app.view.element);
  }
  app.view.update(params);
}

function sectionLink(section, label) {
  const href = section === "logs" ? "/" : `/?tab=${section}`;
  return h("a", {
    href,
    dataset: { section },
    text: label,
    onclick(event) {
      if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      navigate(new URLSearchParams(section === "logs" ? "" : `tab=${section}`));
    },
  });
}

function renderShell() {
  const viewer = app.viewer;
  const sections = [sectionLink("logs", "Logs")];
  if (viewer.role === "ADMIN") sections.push(sectionLink("config", "Configuration"));
  app.main = h("main", { id: "main", class: "content", tabindex: "-1" });
  root.replaceChildren(
    h("a", { class: "skip-link", href: "#main", text: "Skip to content" }),
    h("header", { class: "topbar" },
      h("div", { class: "brand" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), h("span", { class: "brand-name", text: "Audit trail" })),
      h("nav", { class: "sections", "aria-label": "Sections" }, sections),
      h("div", { class: "who" },
        h("span", { class: "who-name", title: `API key ${viewer.id}` }, `${viewer.name} · `, h("strong", { text: viewer.account.name })),
        h("span", { class: "badge", text: viewer.role }),
        h("button", { type: "button", class: "button quiet", text: "Sign out", onclick: () => signOut("You are signed out.") }),
      ),
    ),
    app.main,
  );
}

start();
