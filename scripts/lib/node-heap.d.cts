/** The service's V8 old-generation limit in MB (see node-heap.cjs). */
export declare const HEAP_MB: number;
/** The node arguments that start the service with that limit, unless NODE_OPTIONS already sets one. */
export declare function serviceNodeArgs(env?: NodeJS.ProcessEnv): string[];
