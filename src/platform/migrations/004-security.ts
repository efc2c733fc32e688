import type { Migration } from './helpers.js';

/** Audit events and second-factor lockouts (issue 5). */
export const migration: Migration = {
  async up() {
    // Filled in by its issue.
  },
};
