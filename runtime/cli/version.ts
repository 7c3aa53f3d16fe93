/**
 * tinyo's version, and what `--version` prints (runc's two lines). Kept
 * apart so that `--version` loads nothing else.
 *
 * @module
 */

import { OCI_VERSION } from "../model/oci_version.ts";

/** tinyo's version (also in `features`). */
export const VERSION = "0.1.0";

/** `tinyo --version`: runc's two lines. */
export function versionText(): string {
  return `tinyo version ${VERSION}\nspec: ${OCI_VERSION}`;
}
