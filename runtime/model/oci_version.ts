/**
 * The runtime-spec version tinyo writes and reports (config.json's
 * ociVersion, the state's, `--version`'s "spec:" line).
 *
 * @module
 */

/** The runtime-spec version tinyo writes and reports. */
export const OCI_VERSION = "1.2.0";
