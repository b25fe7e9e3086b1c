// Parse a timeout such as "2 days" into milliseconds. Bundled with esbuild: the zip holds
// one ES module with `ms` inside it, and no node_modules/.
import ms from 'ms';

export const handler = async (event) => ({ timeoutMs: ms(event.timeout ?? '30s') });
