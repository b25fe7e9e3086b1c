// The process `forge invoke` starts for a Node.js function: Lambda's runtime loop, once.
//
// Loads the handler as Lambda's Node.js runtime does (require, or import() for ES modules,
// with NODE_PATH searched by ES module imports too through the resolve hook), tells the
// parent on the control descriptor that the invocation starts, calls the handler with the
// event and a context like Lambda's, and writes the outcome as JSON to the result file:
// {init_ms, duration_ms, result} or {error: {errorType, errorMessage, trace}}, the shape
// Lambda's Node.js runtime reports. A handler may return a promise (async) or call the
// callback; with the callback, the result is sent when the event loop is empty unless
// context.callbackWaitsForEmptyEventLoop is false, as on Lambda. console.* lines carry
// Lambda's prefix: TIME\tREQUEST_ID\tLEVEL\tmessage.
//
// Usage: node bootstrap.cjs HANDLER_FILE EXPORT HOOK_FILE REQUEST_JSON RESULT_JSON CONTROL_FD
'use strict';
const fs = require('node:fs');
const util = require('node:util');
const { pathToFileURL } = require('node:url');
const nodeModule = require('node:module');

const [file, exportPath, hook, requestFile, resultFile, controlFd] = process.argv.slice(2);
if (typeof nodeModule.register === 'function') nodeModule.register(pathToFileURL(hook).href);
const request = JSON.parse(fs.readFileSync(requestFile, 'utf8'));
const values = request.context;
const requestId = values.aws_request_id;

for (const [method, level] of [['log', 'INFO'], ['info', 'INFO'], ['warn', 'WARN'],
  ['error', 'ERROR'], ['debug', 'DEBUG'], ['trace', 'TRACE']]) {
  console[method] = (...args) => {
    const line = `${new Date().toISOString()}\t${requestId}\t${level}\t${util.format(...args)}\n`;
    fs.writeSync(level === 'INFO' || level === 'DEBUG' ? 1 : 2, line);
  };
}

let initMs = 0;
let started = null;
let finished = false;
let pending = null; // a callback's outcome, sent when the event loop is empty

function errorShape(err) {
  if (err instanceof Error) {
    return { errorType: err.name || 'Error', errorMessage: err.message,
      trace: String(err.stack || '').split('\n').filter((l) => !l.includes(__filename)) };
  }
  return { errorType: typeof err === 'string' ? 'string' : typeof err,
    errorMessage: typeof err === 'string' ? err : JSON.stringify(err), trace: [] };
}

function finish(outcome) {
  if (finished) return;
  finished = true;
  const durationMs = started === null ? 0 : Number(process.hrtime.bigint() - started) / 1e6;
  let text;
  try {
    text = JSON.stringify({ init_ms: initMs, duration_ms: durationMs, ...outcome });
  } catch (e) {
    text = JSON.stringify({ init_ms: initMs, duration_ms: durationMs, error: {
      errorType: 'Runtime.MarshalError',
      errorMessage: 'Unable to stringify response body', trace: [] } });
  }
  fs.writeFileSync(resultFile + '.tmp', text);
  fs.renameSync(resultFile + '.tmp', resultFile);
  process.exit(outcome.error ? 1 : 0);
}

process.on('uncaughtException', (err) => finish({ error: errorShape(err) }));
process.on('unhandledRejection', (reason) => finish({ error: {
  errorType: 'Runtime.UnhandledPromiseRejection',
  errorMessage: String(reason instanceof Error ? `${reason.name}: ${reason.message}` : reason),
  trace: reason instanceof Error ? String(reason.stack).split('\n') : [] } }));
process.on('beforeExit', () => finish(pending || { result: null }));

async function load() {
  // Lambda's runtime (up to Node.js 22) first requires the path without an extension: a
  // folder named like the handler file is loaded, or fails, before the file is tried
  const base = file.replace(/\.(?:c|m)?js$/, '');
  if (Number(process.versions.node.split('.')[0]) < 24 && fs.existsSync(base)) return require(base);
  if (file.endsWith('.mjs')) return import(pathToFileURL(file).href);
  try {
    return require(file);
  } catch (e) {
    if (e && e.code === 'ERR_REQUIRE_ESM') return import(pathToFileURL(file).href);
    throw e;
  }
}

(async () => {
  const t0 = process.hrtime.bigint();
  let mod;
  try {
    mod = await load();
  } catch (e) {
    // as Lambda's runtime names them: a module not found, a syntax error, anything else
    const shape = errorShape(e);
    const missing = e && (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_MODULE_NOT_FOUND');
    const syntax = e instanceof SyntaxError;
    const kind = missing ? 'Runtime.ImportModuleError'
      : syntax ? 'Runtime.UserCodeSyntaxError' : shape.errorType;
    finish({ error: { errorType: kind,
      errorMessage: missing || syntax ? `${e.name}: ${e.message}` : shape.errorMessage,
      trace: shape.trace } });
    return;
  }
  initMs = Number(process.hrtime.bigint() - t0) / 1e6;
  let handler = mod;
  for (const part of exportPath.split('.')) handler = handler == null ? undefined : handler[part];
  if (typeof handler !== 'function') {
    const name = file.split('/').pop().replace(/\.[cm]?js$/, '');
    finish({ error: { errorType: 'Runtime.HandlerNotFound',
      errorMessage: `${name}.${exportPath} is undefined or not exported`, trace: [] } });
    return;
  }
  const deadline = Date.now() + request.timeout_ms;
  const context = {
    functionName: values.function_name,
    functionVersion: values.function_version,
    invokedFunctionArn: values.invoked_function_arn,
    memoryLimitInMB: values.memory_limit_in_mb,
    awsRequestId: requestId,
    logGroupName: values.log_group_name,
    logStreamName: values.log_stream_name,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
  };
  const callback = (err, result) => {
    pending = err != null ? { error: errorShape(err) } : { result: result === undefined ? null : result };
    if (!context.callbackWaitsForEmptyEventLoop) finish(pending);
  };
  // the runtime's legacy completion methods, still offered by Lambda's Node.js runtimes
  context.done = callback;
  context.succeed = (result) => callback(null, result);
  context.fail = (err) => callback(err);
  fs.writeSync(Number(controlFd), 'start\n');
  started = process.hrtime.bigint();
  let returned;
  try {
    returned = handler(request.event, context, callback);
  } catch (e) {
    finish({ error: errorShape(e) });
    return;
  }
  if (returned && typeof returned.then === 'function') {
    returned.then((result) => finish({ result: result === undefined ? null : result }),
      (err) => finish({ error: errorShape(err) }));
  }
})();
