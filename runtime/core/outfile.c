/* outfile.c: checks an output path before a run and writes it safely at the end (see outfile.h):
 * a unique temporary file in the output's folder, fsync, rename, fsync of the folder. Not here:
 * what is written (safetensors.c and the other writers). */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* ---- paths ------------------------------------------------------------------------------------ */

/* The folder of path ("." for a bare name), as a new string; NULL when out of memory. */
static char *folder_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return strdup(".");
  const size_t n = slash == path ? 1 : (size_t)(slash - path);
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, path, n);
    d[n] = 0;
  }
  return d;
}

static const char *kind_of(mode_t m) {
  if (S_ISLNK(m)) return "a symbolic link";
  if (S_ISDIR(m)) return "a directory";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

/* Fails unless nothing or a regular file is at path (lstat: a symlink is not followed). */
static ditc_status check_target(const char *flag, const char *path, struct stat *sb, int *exists, ditc_err *err) {
  *exists = 0;
  if (lstat(path, sb) != 0) {
    if (errno == ENOENT) return DITC_OK;
    return ditc_fail(err, DITC_EIO, "%s%s%s: %s", flag, *flag ? " " : "", path, strerror(errno));
  }
  if (!S_ISREG(sb->st_mode))
    return ditc_fail(err, DITC_EIO,
                     "%s%s%s: is %s; ditc writes only regular files and never replaces anything else", flag,
                     *flag ? " " : "", path, kind_of(sb->st_mode));
  *exists = 1;
  return DITC_OK;
}

/* ---- before the run --------------------------------------------------------------------------- */

ditc_status out_check(const char *flag, const char *path, const out_input *inputs, int n_inputs, int64_t bytes,
                      ditc_err *err) {
  if (!path || !path[0]) return ditc_fail(err, DITC_EINVAL, "%s: an empty path is not a file name", flag);
  struct stat sb;
  int exists;
  ditc_status st = check_target(flag, path, &sb, &exists, err);
  if (st) return st;
  for (int i = 0; exists && i < n_inputs; i++) {
    struct stat ib;
    if (inputs[i].path && stat(inputs[i].path, &ib) == 0 && ib.st_dev == sb.st_dev && ib.st_ino == sb.st_ino)
      return ditc_fail(err, DITC_EINVAL, "%s %s is the same file as %s %s: the run would replace its own input",
                       flag, path, inputs[i].flag, inputs[i].path);
  }
  char *dir = folder_of(path);
  if (!dir) return ditc_fail(err, DITC_ENOMEM, "%s %s: out of memory", flag, path);
  struct stat db;
  struct statvfs fs;
  if (stat(dir, &db) != 0 || !S_ISDIR(db.st_mode))
    st = ditc_fail(err, DITC_EIO, "%s %s: folder %s does not exist", flag, path, dir);
  else if (access(dir, W_OK | X_OK) != 0)
    st = ditc_fail(err, DITC_EIO, "%s %s: cannot write in folder %s: %s", flag, path, dir, strerror(errno));
  else if (exists && (db.st_mode & S_ISVTX) && geteuid() != 0 && geteuid() != sb.st_uid && geteuid() != db.st_uid)
    st = ditc_fail(err, DITC_EIO, "%s %s: belongs to another user in the sticky folder %s; this user may not "
                   "replace it", flag, path, dir);
  else if (statvfs(dir, &fs) == 0 && bytes > 0 && (double)fs.f_bavail * (double)fs.f_frsize < (double)bytes)
    st = ditc_fail(err, DITC_EIO, "%s %s: the output needs %.1f MiB, folder %s has %.1f MiB free", flag, path,
                   (double)bytes / 1048576.0, dir, (double)fs.f_bavail * (double)fs.f_frsize / 1048576.0);
  free(dir);
  if (st) return st;
  out_file probe; /* the same call the end of the run makes */
  if ((st = out_open(&probe, path, err))) return st;
  out_abort(&probe);
  return DITC_OK;
}

/* ---- at the end ------------------------------------------------------------------------------- */

ditc_status out_open(out_file *f, const char *path, ditc_err *err) {
  static const char digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  memset(f, 0, sizeof *f);
  f->path = path;
  const size_t n = strlen(path);
  if (!(f->tmp = malloc(n + 12))) return ditc_fail(err, DITC_ENOMEM, "%s: out of memory", path);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40) ^ (uintptr_t)f;
  for (int attempt = 0; attempt < 100; attempt++) {
    char suffix[7];
    for (int i = 0; i < 6; i++) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      suffix[i] = digits[(x >> 33) % 36];
    }
    suffix[6] = 0;
    snprintf(f->tmp, n + 12, "%s.%s.tmp", path, suffix);
    const int fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0 && errno == EEXIST) continue;
    if (fd < 0) {
      ditc_fail(err, DITC_EIO, "%s: cannot create %s: %s", path, f->tmp, strerror(errno));
      free(f->tmp);
      f->tmp = NULL;
      return DITC_EIO;
    }
    if (!(f->fp = fdopen(fd, "wb"))) {
      close(fd);
      unlink(f->tmp);
      ditc_fail(err, DITC_EIO, "%s: cannot open %s: %s", path, f->tmp, strerror(errno));
      free(f->tmp);
      f->tmp = NULL;
      return DITC_EIO;
    }
    return DITC_OK;
  }
  ditc_fail(err, DITC_EIO, "%s: cannot create a unique temporary file next to it", path);
  free(f->tmp);
  f->tmp = NULL;
  return DITC_EIO;
}

void out_abort(out_file *f) {
  if (f->fp) fclose(f->fp);
  if (f->tmp) unlink(f->tmp);
  free(f->tmp);
  f->fp = NULL;
  f->tmp = NULL;
}

ditc_status out_commit(out_file *f, ditc_err *err) {
  int ok = fflush(f->fp) == 0 && fsync(fileno(f->fp)) == 0;
  int saved = errno;
  if (fclose(f->fp) != 0 && ok) ok = 0, saved = errno;
  f->fp = NULL;
  if (!ok) {
    ditc_fail(err, DITC_EIO, "%s: cannot write %s: %s", f->path, f->tmp, strerror(saved));
    out_abort(f);
    return DITC_EIO;
  }
  struct stat sb;
  int exists;
  ditc_status st = check_target("", f->path, &sb, &exists, err); /* planted during the run? */
  if (!st && rename(f->tmp, f->path) != 0)
    st = ditc_fail(err, DITC_EIO, "%s: cannot rename %s into place: %s", f->path, f->tmp, strerror(errno));
  if (st) {
    out_abort(f);
    return st;
  }
  free(f->tmp);
  f->tmp = NULL;
  char *dir = folder_of(f->path); /* the rename stands even where a folder cannot be fsynced */
  const int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  if (dfd >= 0) {
    (void)fsync(dfd);
    close(dfd);
  }
  free(dir);
  return DITC_OK;
}
