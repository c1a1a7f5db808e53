/** tsctr's own version (`tsctr --version`, `tsctr version`). */
export const CLIENT_VERSION = '0.1.0';
