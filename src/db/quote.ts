import pg from 'pg';
import type { QualifiedName } from '../config/job.js';

/** Quotes one catalog name; every identifier reaches SQL through here, validated first. */
export function ident(name: string): string {
  return pg.escapeIdentifier(name);
}

export function qualified(name: QualifiedName): string {
  return `${ident(name.schema)}.${ident(name.name)}`;
}
