import type { Server } from 'node:http';

/** Adds the missing async-iterator `return()` to abstract-level's iterators; how many bases it patched. */
export function closeIteratorsOnReturn(): number;

/** dynalite's factory (CommonJS without type declarations). */
export const dynalite: (options: {
  path?: string;
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}) => Server;
