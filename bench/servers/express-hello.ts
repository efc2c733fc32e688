/**
 * The framework ceiling: Express 5 (the version Twofold runs on) answering "Hello World!" on
 * 127.0.0.1, nothing else.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { serveChild } from '../lib.js';

const app = express();
app.get('/', (_req, res) => {
  res.send('Hello World!');
});
const server = await new Promise<Server>((resolve) => {
  const s = app.listen(0, '127.0.0.1', () => resolve(s));
});
serveChild(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, {}, async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});
