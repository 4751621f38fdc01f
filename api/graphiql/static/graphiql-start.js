// Starts GraphiQL on this service's /graphql. A file of its own, not an inline script, so the page
// runs under a Content-Security-Policy with script-src 'self'.
// A query can hold a key secret (apiKeyUser) and the headers a token: neither is written into the
// address (it reaches access logs and the browser's history), nor kept past the tab: tabs and
// queries live in sessionStorage, gone with the browser tab; headers are never stored.
(function () {
  "use strict";

  // Subscriptions go over a websocket to the same path (graphql-transport-ws, the client bundled in
  // graphiql.min.js); the headers editor's {"Authorization": "Bearer <jwt>"} becomes connection_init's payload.
  const url = window.location.origin + window.location.pathname;
  const fetcher = GraphiQL.createFetcher({ url: url, subscriptionUrl: url.replace(/^http/, "ws") });
  const explorerPlugin = GraphiQLPluginExplorer.explorerPlugin();

  function AuditTrailGraphiQL() {
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      plugins: [explorerPlugin],
      defaultQuery: "{ debugInfo { version } }\n",
      storage: window.sessionStorage,
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(AuditTrailGraphiQL));
})();
