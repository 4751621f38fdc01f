// PostGraphile v5 over the bench's view of audit_events (schema "pgl", made by bench/read.py),
// served by grafserv on node's http, as a user would put it in front of the same table.
// Usage: node server.mjs <port> (DATABASE_URL in the environment).
import { createServer } from "node:http";

import { postgraphile } from "postgraphile";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { TYPES } from "postgraphile/@dataplan/pg";
import { addPgTableCondition } from "postgraphile/utils";

// `condition: { createdSince: ... }`: the "last 7 days" filter (conditions are equality only).
const CreatedSince = addPgTableCondition(
  { schemaName: "pgl", tableName: "entries" },
  "createdSince",
  (build) => ({ type: build.getTypeByName("Datetime") }),
  (value, { sql, sqlTableAlias, sqlValueWithCodec }) =>
    sql`${sqlTableAlias}.created_at >= ${sqlValueWithCodec(value, TYPES.timestamptz)}`,
);

const preset = {
  extends: [PostGraphileAmberPreset],
  plugins: [CreatedSince],
  pgServices: [makePgService({ connectionString: process.env.DATABASE_URL, schemas: ["pgl"] })],
  grafserv: { graphqlPath: "/graphql", graphiql: false, watch: false },
  grafast: { explain: false },
};

const pgl = postgraphile(preset);
const server = createServer();
pgl.createServ(grafserv).addTo(server);
server.listen(Number(process.argv[2]), "127.0.0.1", () => console.log("listening"));
