/**
 * The folder pass of the import rules (`npm run lint:imports`): no cycle between two folders. A folder's node holds
 * its subfolders, so the roots (local mode and the CLI, which assemble everything and which nothing else imports:
 * .dependency-cruiser.cjs checks that) are left out; every other folder depends on the others in one direction.
 */
const main = require('./.dependency-cruiser.cjs');

const ROOTS = main.forbidden.find((rule) => rule.name === 'only-roots-import-local').from.pathNot;

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles-between-folders',
      comment: 'Folders depend on each other in one direction only.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^(lib|functions|infra)/' },
      to: { circular: true },
    },
  ],
  options: { ...main.options, exclude: { path: [main.options.exclude.path, ROOTS] } },
};
