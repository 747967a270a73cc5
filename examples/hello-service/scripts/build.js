// Builds dist/: the service's sources, build-info.json (the commit being built) and
// licenses.json, an inventory of the dependencies' licenses read from package-lock.json.
// The inventory only changes with the lockfile, so it is kept in .build-cache/ under the
// lockfile's hash and reused while the lockfile is unchanged (stepline.yml caches .build-cache).
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const lockfile = readFileSync('package-lock.json');
const lock = JSON.parse(lockfile.toString('utf8'));
const lockHash = createHash('sha256').update(lockfile).digest('hex').slice(0, 16);

rmSync('dist', { recursive: true, force: true });
cpSync('src', 'dist', { recursive: true });

// No build time in it: the same commit must give the same files, so the same image digest.
const commit = process.env.STEPLINE_COMMIT ?? 'local';
writeFileSync(
  'dist/build-info.json',
  `${JSON.stringify({ name: lock.name, version: lock.version, commit }, null, 2)}\n`,
);

const cached = `.build-cache/licenses-${lockHash}.json`;
if (existsSync(cached)) {
  console.log(`licenses: reused ${cached}`);
} else {
  const licenses = Object.entries(lock.packages ?? {})
    .filter(([path]) => path !== '')
    .map(([path, pkg]) => ({
      name: path.replace(/^.*node_modules\//, ''),
      version: pkg.version,
      license: pkg.license ?? 'UNKNOWN',
    }));
  mkdirSync('.build-cache', { recursive: true });
  writeFileSync(cached, `${JSON.stringify(licenses, null, 2)}\n`);
  console.log(`licenses: computed ${licenses.length} dependencies into ${cached}`);
}
cpSync(cached, 'dist/licenses.json');
console.log(`built dist/ for commit ${commit}`);
