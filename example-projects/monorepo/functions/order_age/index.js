// How long ago an order was placed, in words. Not bundled: `ms` ships in node_modules/
// beside this file; `orders-format` comes from the node-format layer.
const ms = require('ms');
const { formatSize } = require('orders-format');

exports.handler = async (event) => ({
  age: ms(Date.now() - Date.parse(event.placedAt), { long: true }),
  eventSize: formatSize(JSON.stringify(event).length),
});
