// Starts GraphiQL on this service's /graphql. A file of its own, not an inline script, so the page
// runs under a Content-Security-Policy with script-src 'self'.
// The query and variables are kept in the URL, so a link shares them; headers (a bearer token) are
// neither put in the URL nor persisted in localStorage.
(function () {
  "use strict";

  const parameters = new URLSearchParams(window.location.search);
  const fetchURL = window.location.origin + window.location.pathname;

  function updateURL(name, value) {
    if (value) {
      parameters.set(name, value);
    } else {
      parameters.delete(name);
    }
    const search = parameters.toString();
    history.replaceState(null, "", search ? "?" + search : window.location.pathname);
  }

  const fetcher = GraphiQL.createFetcher({ url: fetchURL });
  const explorerPlugin = GraphiQLPluginExplorer.explorerPlugin();

  function AuditTrailGraphiQL() {
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      plugins: [explorerPlugin],
      defaultQuery: "{ debugInfo { version } }\n",
      query: parameters.get("q") || undefined,
      variables: parameters.get("variables") || undefined,
      onEditQuery: function (query) {
        updateURL("q", query);
      },
      onEditVariables: function (variables) {
        updateURL("variables", variables);
      },
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(AuditTrailGraphiQL));
})();
