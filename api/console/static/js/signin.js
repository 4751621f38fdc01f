// Sign-in: API key id + secret -> apiKeyUser -> JWT in sessionStorage.

import { ApiError, gql, saveSession } from "./api.js";
import { h, notice } from "./dom.js";

const LOGIN = `mutation SignIn($id: ID!, $secret: String!) { apiKeyUser(id: $id, secret: $secret) { id name jwt validUntil } }`;

/** Render the sign-in form into `root`; calls `onSignedIn()` once a token is stored. */
export function renderSignIn(root, { message, onSignedIn }) {
  const status = h("div", { class: "form-status" }, message ? notice("info", message) : null);
  const keyId = h("input", { id: "signin-key-id", name: "keyId", autocomplete: "username", required: true, spellcheck: "false" });
  const secret = h("input", { id: "signin-secret", name: "secret", type: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", class: "button primary", text: "Sign in" });

  async function signIn(event) {
    event.preventDefault();
    submit.disabled = true;
    status.replaceChildren();
    try {
      const data = await gql(LOGIN, { id: keyId.value.trim(), secret: secret.value }, { authenticated: false });
      if (!data.apiKeyUser) throw new ApiError("That API key id and secret were not accepted.", "UNAUTHENTICATED");
      saveSession({ jwt: data.apiKeyUser.jwt, validUntil: data.apiKeyUser.validUntil });
      secret.value = "";
      await onSignedIn();
    } catch (error) {
      status.replaceChildren(notice("error", error.message || "Sign-in failed."));
      secret.focus();
      secret.select();
    } finally {
      submit.disabled = false;
    }
  }

  const form = h("form", { class: "signin card", onsubmit: signIn, "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title", text: "Sign in to the audit trail" }),
    h("p", { class: "muted", text: "Use an API key of your account. The key is exchanged for a session token that is kept in this tab only." }),
    status,
    h("div", { class: "field" }, h("label", { for: "signin-key-id", text: "API key id" }), keyId),
    h("div", { class: "field" }, h("label", { for: "signin-secret", text: "Secret" }), secret),
    submit,
  );
  root.replaceChildren(h("main", { class: "signin-page", id: "main" }, form));
  keyId.focus();
}
