/**
 * RFC 8785 (JCS) for values that came out of JSON: object members sorted by their names' UTF-16 code
 * units (JavaScript's default sort), no whitespace, strings and numbers as ECMAScript's JSON.stringify
 * writes them (which is what RFC 8785 section 3.2.2 specifies). The bytes of a ledger leaf.
 *
 * Written as loops that append to one string (no intermediate arrays of members): the appender runs it on
 * every event, and the arrays and closures of a map/filter/join version were most of its garbage.
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new Error('RFC 8785 has no form for NaN or Infinity');
      return JSON.stringify(value);
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
        return `${out}]`;
      }
      const record = value as Record<string, unknown>;
      const names = Object.keys(record).sort();
      let out = '{';
      for (const name of names) {
        const member = record[name];
        if (member === undefined) continue;
        out += `${out.length === 1 ? '' : ','}${JSON.stringify(name)}:${canonicalJson(member)}`;
      }
      return `${out}}`;
    }
    default:
      throw new Error(`RFC 8785 has no form for a ${typeof value}`);
  }
}
