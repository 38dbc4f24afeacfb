/**
 * Bad usage or bad configuration: the CLI maps it to exit code 2, and it is always raised
 * before anything in the database has been changed.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Builds the one message shape every configuration error uses: where, what, got, expected. */
export function invalidField(source: string, field: string, value: unknown, expected: string): ConfigError {
  return new ConfigError(`${source}: invalid "${field}": got ${describeValue(value)}; expected ${expected}`);
}

export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing (the field is missing)';
  const json = JSON.stringify(value);
  if (json === undefined) return String(value);
  return json.length > 200 ? `${json.slice(0, 200)}…` : json;
}
