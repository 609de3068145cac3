// The API explorer (GraphiQL, bundled: no CDN), served by the server for `GET /graphql` asked by a browser. It runs
// queries, mutations and subscriptions as the person signed in to the console (their session cookie), with the
// schema's documentation beside the editor.
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import 'graphiql/style.css';
import { createElement } from 'react';
import { createRoot } from 'react-dom/client';

const DEFAULT_QUERY = `# Slipway's API, with your own rights (signed in to the console in this browser).
# Ctrl-Enter runs the query; the docs are on the left. Tools use an API token instead:
#   curl -H "Authorization: Bearer $SLIPWAY_TOKEN" -H "content-type: application/json" \\
#        -d '{"query":"{ me { login } }"}' ${location.origin}/graphql
{
  me { login name isAdmin }
  projects { id name environments { name liveRelease { tag } } }
}
`;

const fetcher = createGraphiQLFetcher({
  url: `${location.origin}/graphql`,
  subscriptionUrl: `${location.origin.replace(/^http/, 'ws')}/graphql`,
  headers: { 'x-slipway-csrf': '1' },
});

const root = document.getElementById('explorer');
if (root) {
  root.style.height = '100vh';
  createRoot(root).render(
    createElement(GraphiQL, { fetcher, defaultQuery: DEFAULT_QUERY, defaultEditorToolsVisibility: true }),
  );
}
