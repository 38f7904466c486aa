/**
 * Numbered placeholders from names: a statement declares its parameters once, in order, each either one
 * typed value (`'uuid[]'`, referred to as `$n::uuid[]`) or a group of N consecutive arrays (referred to by
 * its first number, for helpers that write their own `$n` run). The text is built from the references and
 * the values are laid out from an object with the same names, so a parameter cannot be added, dropped or
 * moved in one without the other: TypeScript asks for every name, and a group of the wrong width throws.
 */
export type ParamSpec = Record<string, string | number>;

/** What the text sees: `$n::type` for a typed parameter, the first number of a group. */
export type ParamRefs<S extends ParamSpec> = { [K in keyof S]: S[K] extends number ? number : string };

/** What the values are given as: one value per typed parameter, an array of N arrays per group. */
export type ParamValues<S extends ParamSpec> = {
  [K in keyof S]: S[K] extends number ? unknown[][] : unknown;
};

export interface NamedStatement<S extends ParamSpec> {
  text: string;
  values(v: ParamValues<S>): unknown[];
}

export function namedStatement<S extends ParamSpec>(
  spec: S,
  build: (p: ParamRefs<S>) => string,
): NamedStatement<S> {
  const names = Object.keys(spec) as Array<keyof S & string>;
  const refs: Record<string, string | number> = {};
  let n = 1;
  for (const name of names) {
    const kind = spec[name];
    refs[name] = typeof kind === 'number' ? n : `$${n}::${kind}`;
    n += typeof kind === 'number' ? kind : 1;
  }
  const text = build(refs as ParamRefs<S>);
  return {
    text,
    values: (v) =>
      names.flatMap((name) => {
        const kind = spec[name];
        if (typeof kind !== 'number') return [v[name]];
        const group = v[name] as unknown[][];
        if (group.length !== kind)
          throw new Error(`parameter group ${name}: ${group.length} arrays, not ${kind}`);
        return group;
      }),
  };
}
