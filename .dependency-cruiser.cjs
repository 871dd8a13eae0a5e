/**
 * The import rules of the house (docs/code-map.md#the-rules-checked), run by `npm run check` (`npm run lint:imports`).
 * A broken rule fails with its name and the arrow, for example
 * `error core-not-to-outer-layers: lib/ciba/poll-ciba-grant.ts → lib/http/event.ts`.
 * TypeScript is parsed with swc (dependency-cruiser's TypeScript parser predates TypeScript 7); type-only imports
 * count as imports.
 */

/** The core: the operations and the contract they share (records, errors, events, ports, shared helpers). */
const CORE = [
  '^lib/(ciba|oauth|admin)/',
  '^lib/(model|errors|events|persistence|ports|keyset|display-string|crypto|json-input|validation|cache|logging|private-file)[.]ts$',
];

/** Local mode and the CLI are roots: they assemble the rest, and only they import local mode. */
const ROOTS = '^lib/(local|cli)/';

const options = {
  doNotFollow: { path: '^node_modules/' },
  exclude: { path: '^(node_modules|cdk[.]out|[.]data)/' },
  parser: 'swc',
  tsConfig: { fileName: 'tsconfig.json' },
  enhancedResolveOptions: { extensions: ['.ts', '.mts', '.js', '.mjs'] },
};

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'core-not-to-outer-layers',
      comment:
        'The core (lib/ciba, lib/oauth, lib/admin and the contract) never imports adapters, local mode, functions or HTTP: it declares ports and they are handed in.',
      severity: 'error',
      from: { path: CORE },
      to: { path: ['^lib/(adapters|local|http|web|cli|device)/', '^functions/', '^infra/'] },
    },
    {
      name: 'adapters-not-to-operations',
      comment:
        "Adapters do I/O behind the core's ports: they may use the contract and shared helpers, never the core's operations, inbound HTTP, local mode or functions.",
      severity: 'error',
      from: { path: '^lib/adapters/' },
      to: { path: ['^lib/(ciba|oauth|admin)/', '^lib/(http|local|web|cli)/', '^functions/'] },
    },
    {
      name: 'functions-not-to-local',
      comment: 'Lambda entries and handlers never reach local mode (lib/local is npm start only).',
      severity: 'error',
      from: { path: '^functions/' },
      to: { path: '^lib/local/' },
    },
    {
      name: 'only-roots-import-local',
      comment: 'Only local mode itself and the CLI import lib/local: nothing a Lambda bundle could carry.',
      severity: 'error',
      from: { path: '^(lib|functions|infra)/', pathNot: ROOTS },
      to: { path: '^lib/local/' },
    },
    {
      name: 'only-roots-import-functions',
      comment:
        'The handlers are leaves of the server: only local mode (which feeds them) and infra (which bundles them) reach functions/.',
      severity: 'error',
      from: { path: '^lib/', pathNot: ROOTS },
      to: { path: '^functions/' },
    },
    {
      name: 'device-sdk-not-to-server',
      comment:
        'The device SDK (Node and browsers) reaches no server code: only itself, the wire error codes, the model types and the private-file helper.',
      severity: 'error',
      from: { path: '^lib/device/' },
      to: {
        path: '^(lib|functions|infra)/',
        pathNot: ['^lib/device/', '^lib/(errors|model|private-file)[.]ts$'],
      },
    },
    {
      name: 'no-module-cycles',
      comment: 'No module imports itself through others.',
      severity: 'error',
      from: { path: '^(lib|functions|infra)/' },
      to: { circular: true },
    },
  ],
  options,
};
