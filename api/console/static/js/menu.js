// A small popup menu anchored to a button: arrow keys move, Escape or a click outside closes.

import { h } from "./dom.js";

let openMenu = null;

export function closeMenu({ restoreFocus = false } = {}) {
  if (!openMenu) return;
  const { element, anchor, onDocumentClick } = openMenu;
  openMenu = null;
  element.remove();
  anchor.setAttribute("aria-expanded", "false");
  document.removeEventListener("click", onDocumentClick, true);
  if (restoreFocus) anchor.focus();
}

/** A link item: `external` opens a new tab; otherwise a plain click stays in the console (`onSelect`). */
function linkEntry(item) {
  if (item.external) {
    return h("a", { role: "menuitem", href: item.href, target: "_blank", rel: "noopener noreferrer", tabindex: "-1", text: item.label, onclick: () => closeMenu() });
  }
  return h("a", { role: "menuitem", href: item.href, tabindex: "-1", text: item.label, onclick: (event) => {
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    closeMenu();
    item.onSelect();
  } });
}

/** Show `items` ({label, onSelect}, or {label, href, external} / {label, href, onSelect} links) under `anchor`. */
export function showMenu(anchor, items, label) {
  const wasOpenHere = openMenu?.anchor === anchor;
  closeMenu();
  if (wasOpenHere) return;
  const entries = items.map((item) =>
    item.href
      ? linkEntry(item)
      : h("button", { type: "button", role: "menuitem", tabindex: "-1", text: item.label, onclick: () => { closeMenu(); item.onSelect(); } }),
  );
  const element = h("div", { class: "menu", role: "menu", "aria-label": label }, entries);
  element.addEventListener("keydown", (event) => {
    const index = entries.indexOf(document.activeElement);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      entries[(index + step + entries.length) % entries.length].focus();
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      entries[event.key === "Home" ? 0 : entries.length - 1].focus();
    } else if (event.key === "Escape") {
      event.preventDefault();
      closeMenu({ restoreFocus: true });
    } else if (event.key === "Tab") {
      closeMenu({ restoreFocus: true });
    }
  });
  document.body.append(element);
  const box = anchor.getBoundingClientRect();
  const left = Math.min(box.left + window.scrollX, window.scrollX + document.documentElement.clientWidth - element.offsetWidth - 8);
  element.style.left = `${Math.max(8, left)}px`;
  element.style.top = `${box.bottom + window.scrollY + 4}px`;
  anchor.setAttribute("aria-expanded", "true");
  const onDocumentClick = (event) => {
    if (!element.contains(event.target) && !anchor.contains(event.target)) closeMenu();
  };
  document.addEventListener("click", onDocumentClick, true);
  openMenu = { element, anchor, onDocumentClick };
  entries[0].focus();
}
