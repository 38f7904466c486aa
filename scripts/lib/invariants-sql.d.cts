// Types of invariants-sql.cjs: each query returns the rows that break its invariant (none when it holds).
export declare const CONSERVED_PER_CURRENCY: string;
export declare const NO_NEGATIVE_BALANCE: string;
export declare const BALANCE_EQUALS_LEDGER: string;
export declare const HELD_EQUALS_OPEN_HOLDS: string;
export declare const COMPLETED_HAVE_ENTRIES: string;
export declare const TRANSFER_ENTRIES_CANCEL: string;
export declare const USAGE_EQUALS_SPENDING: string;
export declare const MONEY_INVARIANTS: ReadonlyArray<{ readonly name: string; readonly sql: string }>;
