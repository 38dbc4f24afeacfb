/** A runtime statement: identifiers already quoted into text, every value a $n parameter. */
export interface Statement {
  text: string;
  values: unknown[];
}
