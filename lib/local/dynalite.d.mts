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

/** Whether another process holds dynalite's folder; else the tables left CREATING that were marked ACTIVE. */
export function prepareFolder(path: string): Promise<{ held: true } | { held: false; repaired: string[] }>;
