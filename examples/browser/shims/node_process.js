// node:process in a browser: no environment variables, so every KVMKIT_* setting keeps its default.
const process = { env: {} };
export default process;
export const env = process.env;
