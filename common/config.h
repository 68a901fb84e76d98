/* config.h — ~/.offlineimaprc read with Python configparser semantics.
 *
 * Owns: turning a config file into sections and options exactly as
 * OfflineIMAP (Python configparser with BasicInterpolation) would see it:
 *   - "[name]" section headers; section names are case-sensitive;
 *   - "key = value" or "key: value"; option names are case-insensitive
 *     (stored lowercased); surrounding whitespace stripped;
 *   - [DEFAULT] options are inherited by every section;
 *   - "%(name)s" interpolation from the same section plus [DEFAULT] (recursive,
 *     depth-limited, "%%" is a literal "%"); a bad reference is an error
 *     that names file:line;
 *   - values continue over following lines that are indented more than the
 *     key line; the newline is kept (empty lines inside a value are kept
 *     when followed by more indented text, trailing ones dropped);
 *   - full-line comments start with '#' or ';'; inline comments are NOT
 *     stripped (configparser's default);
 *   - duplicate sections, or a duplicate option within one section, are
 *     errors (Python 3 behaviour);
 *   - booleans: 1/yes/true/on and 0/no/false/off, case-insensitive.
 * Storage is iniparser's dictionary (keys "section\x1foption"); its file
 * parser is not used because it strips quotes and inline comments and does
 * not know indented continuation lines, which users' files rely on.
 *
 * Every stored option remembers the file and line it came from so that
 * validation elsewhere can say "file:line: bad value".
 * Errors are returned as one malloc'd line in *error_r, e.g.
 *   "/home/u/.offlineimaprc:12: duplicate option 'remotehost' in section 'Repository R'".
 */
#ifndef OFFLINEFS_CONFIG_H
#define OFFLINEFS_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "common/xalloc.h"

struct config;

/* Parses path. Returns the config, or NULL with *error_r (malloc'd). */
struct config *config_load(const char *path, char **error_r);
/* Same, from a string; name is used in error messages. */
struct config *config_parse(const char *name, const char *text, char **error_r);
void config_free(struct config **cfg);

/* The file name the config was loaded from (borrowed). */
const char *config_filename(const struct config *cfg);

/* True if a section of exactly this name exists ("DEFAULT" never counts). */
bool config_has_section(const struct config *cfg, const char *section);
/* Section names in file order, excluding DEFAULT. Borrowed. */
const struct strlist *config_sections(const struct config *cfg);
/* Option names (lowercase) set directly in section (not inherited), in file
 * order. Borrowed. Empty list for an unknown section. */
const struct strlist *config_options(const struct config *cfg, const char *section);

/* The interpolated value of option in section (falling back to [DEFAULT]),
 * or NULL when unset. option is matched case-insensitively. A section that
 * does not exist has no options, not even inherited ones (configparser's
 * has_option()); section "DEFAULT" gives the [DEFAULT] options. The string is
 * owned by cfg and valid until cfg is freed or the option is set again.
 * Returns NULL and sets *error_r (malloc'd) when interpolation fails; pass
 * error_r NULL to treat that as unset. *error_r is NULL whenever no error.
 * The error names the file:line and option whose value holds the bad
 * reference, e.g. "rc:3: option 'root' in section 'Account A':
 * interpolation refers to missing option 'hme'". */
const char *config_get(const struct config *cfg, const char *section, const char *option,
		       char **error_r);
/* The value without interpolation (as -k or the file gave it). */
const char *config_get_raw(const struct config *cfg, const char *section, const char *option);

/* "file:line" where option was set (section, else DEFAULT), "command line
 * (-k)" if config_set() put it there, or the file name if unset. Owned by cfg;
 * valid until the option is set or unset again. */
const char *config_where(const struct config *cfg, const char *section, const char *option);

/* Typed getters. Each returns 0 and stores the value (def when unset), or
 * -1 with *error_r = "file:line: option 'x' in section 'S': expected a
 * boolean (yes/no/true/false/on/off/1/0), got 'maybe'" (malloc'd). */
int config_get_bool(const struct config *cfg, const char *section, const char *option, bool def,
		    bool *value_r, char **error_r);
int config_get_int(const struct config *cfg, const char *section, const char *option, int64_t def,
		   int64_t *value_r, char **error_r);
/* Non-negative number with optional fraction (autorefresh = 0.5). */
int config_get_double(const struct config *cfg, const char *section, const char *option,
		      double def, double *value_r, char **error_r);

/* Sets (creating section if needed) — used by "-k [section:]option=value".
 * A value set this way overrides the file and is reported as coming from
 * the command line. Names must not contain '\x1f' (the key separator). */
void config_set(struct config *cfg, const char *section, const char *option, const char *value);
/* Removes option from section (used by -o to drop autorefresh). */
void config_unset(struct config *cfg, const char *section, const char *option);

/* Parses one -k argument "[section:]option=value"; underscores in the
 * section become spaces (OfflineIMAP: "-k Account_Test:autorefresh=30");
 * no section means "general". Option and value are stripped of blanks; a
 * value with a '%' that interpolation would reject is refused at once (as
 * configparser's set() does). Returns 0, or -1 with *error_r (malloc'd). */
int config_apply_override(struct config *cfg, const char *arg, char **error_r);

/* Parses a boolean word; returns 0 or -1 if it is not one. */
int config_parse_bool(const char *word, bool *value_r);

/* Expands a leading "~" (and "~/") to $HOME and $VAR / ${VAR} anywhere,
 * as OfflineIMAP does for path options (os.path.expanduser, then expandvars:
 * "~user/" works too; unset variables and unknown users are left as is).
 * Returns a malloc'd string. */
char *config_expand_path(const char *path);
/* Expands only "~" (remotepassfile). */
char *config_expand_tilde(const char *path);

#endif
