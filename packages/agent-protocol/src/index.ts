export { type Hook, HookSchema, Seconds } from './hooks.ts';
export * from './messages.ts';
export * from './signing.ts';
