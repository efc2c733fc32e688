import type { Migration } from './helpers.js';

/** The web app's users, sessions, login attempts and callback nonces (issue 4). */
export const migration: Migration = {
  async up() {
    // Filled in by its issue.
  },
};
