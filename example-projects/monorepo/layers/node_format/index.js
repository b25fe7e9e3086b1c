// Formatting shared by the Node.js functions. The layer puts this package at
// nodejs/node_modules/orders-format/ and its dependency `bytes` beside it.
const bytes = require('bytes');

/** A human-readable size: formatSize(1536) === '1.5KB'. */
exports.formatSize = (n) => bytes(n);
