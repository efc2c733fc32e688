import type { Migration } from './helpers.js';

/** Approval requests, devices, activation links, device nonces, callback outbox (issue 3). */
export const migration: Migration = {
  async up() {
    // Filled in by its issue.
  },
};
