/** Where `npm start` listens by default, and so where the CLI looks unless told otherwise (one place for both). */
export const LOCAL_PORT = 8787;
export const LOCAL_BASE_URL = `http://127.0.0.1:${LOCAL_PORT}`;
