/* The report's two primitives: a line on stdout, and a number as the report writes it. */
export const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};
export const n = (value: number | string): string => Number(value).toLocaleString('en-US');
