/** Reported by `hubctl --version`; kept equal to package.json's version. */
export const HUBCTL_VERSION = '0.1.0';
