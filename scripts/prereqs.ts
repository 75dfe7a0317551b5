// Installs, once, everything `npm test`, `npm run bench` and `npm run demo` start: one apt-get
// run up front instead of one per test file.
import { ensurePrerequisites, prerequisites } from '../e2e/support/prereqs.ts';

ensurePrerequisites(Object.values(prerequisites));
