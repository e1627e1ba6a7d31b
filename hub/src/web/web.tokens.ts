/** Nest token: absolute path of the built dashboard folder. */
export const WEB_DIR = Symbol.for('fleet.hub.WebDir');
