/*
 * bench/floor/floor.c — the floor: the syscalls one container's network needs, and
 * nothing else. It is the physical limit every path in bench/ is compared against.
 *
 * Built by bench/run.ts at run time (`cc -O2 -pthread -o bench/floor/floor floor.c`)
 * and run only inside a fresh net+mount namespace that already holds the bridge
 * (bench/worker.ts does that setup). It never touches anything but that namespace's
 * links and the /run/netns of its private mount namespace.
 *
 * One container (on a dedicated thread that starts in the host netns; -j runs J of them):
 *   attach: unshare(CLONE_NEWNET)                         the thread is now in a new netns
 *           open(O_CREAT) + close + mount(MS_BIND)        /run/netns/NAME, as `ip netns add`
 *           open(/proc/thread-self/ns/net)                fd for IFLA_NET_NS_FD
 *           socket(NETLINK_ROUTE)                         a socket living in the new netns
 *           setns(host)                                   back to the host netns
 *           sendmsg+recv on the host socket:          RTM_NEWLINK veth with IFLA_MASTER,
 *                                                         then "addrgenmode none up" on its host
 *                                                         end (same sendmsg); peer "eth0" born in the netns
 *                                                         (IFLA_NET_NS_FD in VETH_INFO_PEER)
 *                                                         with ifindex 2 chosen up front
 *           sendmsg+recv on the netns socket, one batch:  lo up, [eth0 addrgenmode none,] eth0 up,
 *                                                         address, default route
 *   detach: umount2(MNT_DETACH) + unlink                  the kernel reaps netns and veth later
 *
 * IPv6: by default both veth ends get IFLA_INET6_ADDR_GEN_MODE = NONE, so an IPv4
 * network's ports stay quiet (no link-local address, no DAD/RS/MLD flooded to every
 * bridge port). The kernel refuses IFLA_AF_SPEC in a *creating* RTM_NEWLINK
 * (EAFNOSUPPORT, checked on 6.18), so it is set by later messages in the same sendmsg:
 * the host end is created down and set "addrgenmode none up" by a second message; the
 * peer gets its own "addrgenmode none" message before its "up" in the netns batch (see
 * attach() for why that one cannot be combined). No extra syscalls.
 * `--ipv6` leaves the kernel default (host end born UP) to show what IPv6 costs.
 *
 * Usage: floor [-n N] [-k K] [-w W] [-j J] [-s MS] [-b BRIDGE] [-p PREFIX] [--ipv6] [--keep]
 *   -n N       containers timed (attach all N, then detach all N); default 100
 *   -k K       containers attached first, untimed ("K ports already on the bridge"); default 0
 *   -w W       warm-up attach+detach cycles before anything else, untimed; default 0
 *   -j J       timed attaches in flight: J threads, each with its own host socket; default 1
 *   -s MS      pause after the pre-populated ones, untimed (their queued kernel work drains); default 0
 *   -b BRIDGE  bridge in the current netns; default ctb0 (gateway 172.18.0.1/16 on it)
 *   -p PREFIX  prefix of netns and host veth names; default "fl"
 *   --keep     leave the containers attached (to inspect them; detach times are then empty)
 * Output (stdout, one line of JSON): per-container attach and detach times in ms, the
 * wall time of the attach phase, and the median of each attach step.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NETNS_DIR "/run/netns"
#define PEER_IFINDEX 2 /* lo is 1 in a fresh netns */

static int opt_n = 100, opt_k = 0, opt_w = 0, opt_settle_ms = 0, opt_ipv6 = 0, opt_keep = 0;
static const char *opt_bridge = "ctb0", *opt_prefix = "fl";
static unsigned bridge_index;
static int opt_jobs = 1;
static int host_ns = -1;
/* Each thread has its own host-side socket and sequence numbers (-j runs several). */
static __thread int host_sock = -1;
static __thread uint32_t seq = 1;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what, int err) {
  fprintf(stderr, "floor: %s: %s\n", what, strerror(err));
  exit(1);
}

/* ---- a tiny netlink message builder ---- */

struct msg { char buf[1024]; struct nlmsghdr *h; };

static void *msg_init(struct msg *m, uint16_t type, uint16_t flags, size_t hdrlen) {
  memset(m->buf, 0, sizeof m->buf);
  m->h = (struct nlmsghdr *)m->buf;
  m->h->nlmsg_len = NLMSG_LENGTH(hdrlen);
  m->h->nlmsg_type = type;
  m->h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  m->h->nlmsg_seq = seq++;
  return NLMSG_DATA(m->h);
}

static struct rtattr *attr(struct msg *m, uint16_t type, const void *data, size_t len) {
  struct rtattr *a = (struct rtattr *)(m->buf + NLMSG_ALIGN(m->h->nlmsg_len));
  a->rta_type = type;
  a->rta_len = RTA_LENGTH(len);
  if (len) memcpy(RTA_DATA(a), data, len);
  m->h->nlmsg_len = NLMSG_ALIGN(m->h->nlmsg_len) + RTA_ALIGN(a->rta_len);
  return a;
}
static void attr_u32(struct msg *m, uint16_t type, uint32_t v) { attr(m, type, &v, sizeof v); }
static void attr_str(struct msg *m, uint16_t type, const char *s) { attr(m, type, s, strlen(s) + 1); }
static struct rtattr *nest(struct msg *m, uint16_t type) { return attr(m, type, NULL, 0); }
static void nest_end(struct msg *m, struct rtattr *a) {
  a->rta_len = (unsigned short)(m->buf + m->h->nlmsg_len - (char *)a);
}
/* Room for a struct inside an attribute (VETH_INFO_PEER starts with an ifinfomsg). */
static void *reserve(struct msg *m, size_t len) {
  void *p = m->buf + m->h->nlmsg_len;
  m->h->nlmsg_len += NLMSG_ALIGN(len);
  return p;
}
/* IFLA_AF_SPEC { AF_INET6 { IFLA_INET6_ADDR_GEN_MODE = NONE } } */
static void addr_gen_none(struct msg *m) {
  uint8_t mode = IN6_ADDR_GEN_MODE_NONE;
  struct rtattr *af = nest(m, IFLA_AF_SPEC), *in6 = nest(m, AF_INET6);
  attr(m, IFLA_INET6_ADDR_GEN_MODE, &mode, 1);
  nest_end(m, in6);
  nest_end(m, af);
}

/* Send `count` messages laid out back to back in one sendmsg; wait for their acks. */
static int talk(int sock, struct msg *msgs, int count, const char *what) {
  struct iovec iov[8];
  for (int i = 0; i < count; i++) {
    iov[i].iov_base = msgs[i].buf;
    iov[i].iov_len = msgs[i].h->nlmsg_len;
  }
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  struct msghdr mh = { .msg_name = &kernel, .msg_namelen = sizeof kernel, .msg_iov = iov, .msg_iovlen = (size_t)count };
  if (sendmsg(sock, &mh, 0) < 0) die(what, errno);
  int acked = 0;
  char rbuf[8192];
  while (acked < count) {
    ssize_t r = recv(sock, rbuf, sizeof rbuf, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      die(what, errno);
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)rbuf; NLMSG_OK(h, (unsigned)r); h = NLMSG_NEXT(h, r)) {
      if (h->nlmsg_type != NLMSG_ERROR) continue;
      int err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
      if (err) {
        fprintf(stderr, "floor: %s (message %d of %d): %s\n", what, acked + 1, count, strerror(-err));
        exit(1);
      }
      acked++;
    }
  }
  return 0;
}

/* ---- one container ---- */

struct steps { double unshare, mount, veth, inside; };

static void netns_path(char *out, size_t len, int i) {
  snprintf(out, len, NETNS_DIR "/%s%d", opt_prefix, i);
}

static void attach(int i, struct steps *st) {
  char path[128], hostname[IFNAMSIZ];
  netns_path(path, sizeof path, i);
  snprintf(hostname, sizeof hostname, "%s%d", opt_prefix, i);
  double t0 = now_ms();

  if (unshare(CLONE_NEWNET) < 0) die("unshare(CLONE_NEWNET)", errno);
  double t1 = now_ms();

  int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) die(path, errno);
  close(fd);
  if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0) die("bind mount netns", errno);
  int nsfd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) die("open netns", errno);
  int nsock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (nsock < 0) die("socket in netns", errno);
  if (setns(host_ns, CLONE_NEWNET) < 0) die("setns(host)", errno);
  double t2 = now_ms();

  /* ip link add HOST [up] master BR type veth peer name eth0 index 2 netns NAME
     (+ with IPv6 quiet: ip link set HOST addrgenmode none up, in the same sendmsg) */
  struct msg h[2];
  struct ifinfomsg *ifi = msg_init(&h[0], RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof *ifi);
  ifi->ifi_family = AF_UNSPEC;
  if (opt_ipv6) {
    ifi->ifi_flags = IFF_UP;
    ifi->ifi_change = IFF_UP;
  }
  attr_str(&h[0], IFLA_IFNAME, hostname);
  attr_u32(&h[0], IFLA_MASTER, bridge_index);
  struct rtattr *li = nest(&h[0], IFLA_LINKINFO);
  attr_str(&h[0], IFLA_INFO_KIND, "veth");
  struct rtattr *data = nest(&h[0], IFLA_INFO_DATA);
  struct rtattr *peer = nest(&h[0], VETH_INFO_PEER);
  struct ifinfomsg *pifi = reserve(&h[0], sizeof *pifi);
  pifi->ifi_family = AF_UNSPEC;
  pifi->ifi_index = PEER_IFINDEX;
  attr_str(&h[0], IFLA_IFNAME, "eth0");
  attr_u32(&h[0], IFLA_NET_NS_FD, (uint32_t)nsfd);
  nest_end(&h[0], peer);
  nest_end(&h[0], data);
  nest_end(&h[0], li);
  if (!opt_ipv6) {
    struct ifinfomsg *set = msg_init(&h[1], RTM_NEWLINK, 0, sizeof *set);
    set->ifi_family = AF_UNSPEC;
    set->ifi_flags = IFF_UP;
    set->ifi_change = IFF_UP;
    attr_str(&h[1], IFLA_IFNAME, hostname);
    addr_gen_none(&h[1]);
  }
  talk(host_sock, h, opt_ipv6 ? 1 : 2, "RTM_NEWLINK veth");
  close(nsfd);
  double t3 = now_ms();

  /* In the netns, one batch (one sendmsg): ip link set lo up; [ip link set eth0 addrgenmode
     none;] ip link set eth0 up; ip addr add 172.18.H.L/16 dev eth0; ip route add default via
     172.18.0.1. addrgenmode needs its own message here: do_setlink applies IFF_UP before
     IFLA_AF_SPEC, and with the host end already up eth0 gets carrier at once, so a combined
     message would make a link-local address (and DAD/RS/MLD flooded to every bridge port)
     before the mode changes. (The host end can combine them: it has no carrier until eth0
     is up, and addrconf waits for carrier.) */
  struct msg b[5];
  int nb = 0;
  int hostpart = i + 2; /* .0.1 is the gateway */
  uint32_t ip = htonl((172u << 24) | (18u << 16) | (uint32_t)hostpart);
  uint32_t gw = htonl((172u << 24) | (18u << 16) | 1u);
  struct ifinfomsg *lo = msg_init(&b[nb++], RTM_NEWLINK, 0, sizeof *lo);
  lo->ifi_family = AF_UNSPEC;
  lo->ifi_index = 1;
  lo->ifi_flags = IFF_UP;
  lo->ifi_change = IFF_UP;
  if (!opt_ipv6) {
    struct ifinfomsg *gen = msg_init(&b[nb], RTM_NEWLINK, 0, sizeof *gen);
    gen->ifi_family = AF_UNSPEC;
    gen->ifi_index = PEER_IFINDEX;
    addr_gen_none(&b[nb++]);
  }
  struct ifinfomsg *up = msg_init(&b[nb++], RTM_NEWLINK, 0, sizeof *up);
  up->ifi_family = AF_UNSPEC;
  up->ifi_index = PEER_IFINDEX;
  up->ifi_flags = IFF_UP;
  up->ifi_change = IFF_UP;
  struct msg *am = &b[nb++];
  struct ifaddrmsg *ifa = msg_init(am, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof *ifa);
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = 16;
  ifa->ifa_index = PEER_IFINDEX;
  attr(am, IFA_LOCAL, &ip, 4);
  attr(am, IFA_ADDRESS, &ip, 4);
  struct msg *rm = &b[nb++];
  struct rtmsg *rt = msg_init(rm, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, sizeof *rt);
  rt->rtm_family = AF_INET;
  rt->rtm_table = RT_TABLE_MAIN;
  rt->rtm_protocol = RTPROT_BOOT;
  rt->rtm_scope = RT_SCOPE_UNIVERSE;
  rt->rtm_type = RTN_UNICAST;
  attr(rm, RTA_GATEWAY, &gw, 4);
  attr_u32(rm, RTA_OIF, PEER_IFINDEX);
  talk(nsock, b, nb, "lo up, eth0 up, addr, route in netns");
  close(nsock);
  double t4 = now_ms();

  if (st) {
    st->unshare = t1 - t0;
    st->mount = t2 - t1;
    st->veth = t3 - t2;
    st->inside = t4 - t3;
  }
}

static void detach(int i) {
  char path[128];
  netns_path(path, sizeof path, i);
  if (umount2(path, MNT_DETACH) < 0) die("umount netns", errno);
  if (unlink(path) < 0) die("unlink netns", errno);
}

/* ---- driver ---- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}
static double median(double *v, int n) {
  if (n == 0) return 0;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
static void print_array(const char *name, const double *v, int n) {
  printf("\"%s\":[", name);
  for (int i = 0; i < n; i++) printf("%s%.4f", i ? "," : "", v[i]);
  printf("]");
}

struct timed {
  int next, end, first;
  double *att;
  struct steps *st;
};

static void open_host_sock(void) {
  host_sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (host_sock < 0) die("socket", errno);
}

static void *timed_attaches(void *arg) {
  struct timed *c = arg;
  open_host_sock();
  for (;;) {
    int i = __atomic_fetch_add(&c->next, 1, __ATOMIC_RELAXED);
    if (i >= c->end) break;
    double t0 = now_ms();
    attach(i, &c->st[i - c->first]);
    c->att[i - c->first] = now_ms() - t0;
  }
  close(host_sock);
  return NULL;
}

static void *run(void *unused) {
  (void)unused;
  open_host_sock();
  double *att = calloc((size_t)opt_n, sizeof *att), *det = calloc((size_t)opt_n, sizeof *det);
  struct steps *st = calloc((size_t)opt_n, sizeof *st);
  if (!att || !det || !st) die("calloc", ENOMEM);

  /* Indices: warm-ups first, then the pre-populated ports, then the timed containers;
     no name or address is ever reused (a detached host veth lingers until reaped). */
  int first = opt_w + opt_k, total = first + opt_n;
  for (int i = 0; i < opt_w; i++) {
    attach(i, NULL);
    detach(i);
  }
  for (int i = opt_w; i < first; i++) attach(i, NULL); /* pre-populated ports, untimed */
  if (opt_settle_ms > 0) { /* let the kernel finish the work those attaches queued */
    struct timespec ts = { .tv_sec = opt_settle_ms / 1000, .tv_nsec = (long)(opt_settle_ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
  }
  /* The timed attaches: opt_jobs threads, each taking the next index (-j = in flight). */
  struct timed ctx = { .next = first, .end = total, .first = first, .att = att, .st = st };
  pthread_t *threads = calloc((size_t)opt_jobs, sizeof *threads);
  if (!threads) die("calloc", ENOMEM);
  double w0 = now_ms();
  for (int j = 0; j < opt_jobs; j++) {
    int err = pthread_create(&threads[j], NULL, timed_attaches, &ctx);
    if (err) die("pthread_create", err);
  }
  for (int j = 0; j < opt_jobs; j++) pthread_join(threads[j], NULL);
  double wall = now_ms() - w0;
  for (int i = first; i < total && !opt_keep; i++) {
    double t0 = now_ms();
    detach(i);
    det[i - first] = now_ms() - t0;
  }
  for (int i = opt_w; i < first && !opt_keep; i++) detach(i);

  double *tmp = calloc((size_t)opt_n, sizeof *tmp);
  if (!tmp) die("calloc", ENOMEM);
  double med[4];
  for (int s = 0; s < 4; s++) {
    for (int i = 0; i < opt_n; i++) tmp[i] = ((double *)&st[i])[s];
    med[s] = median(tmp, opt_n);
  }
  printf("{\"n\":%d,\"prepopulated\":%d,\"ipv6\":%s,\"inFlight\":%d,\"attachWallMs\":%.3f,", opt_n, opt_k,
         opt_ipv6 ? "true" : "false", opt_jobs, wall);
  print_array("attach", att, opt_n);
  printf(",");
  print_array("detach", det, opt_keep ? 0 : opt_n);
  printf(",\"stepsMedianMs\":{\"unshare\":%.4f,\"fileMountSocketSetns\":%.4f,\"vethNewlink\":%.4f,\"insideBatch\":%.4f}}\n",
         med[0], med[1], med[2], med[3]);
  fflush(stdout);
  return NULL;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--ipv6")) opt_ipv6 = 1;
    else if (!strcmp(a, "--keep")) opt_keep = 1;
    else if (!strcmp(a, "-n") && v) opt_n = atoi(argv[++i]);
    else if (!strcmp(a, "-k") && v) opt_k = atoi(argv[++i]);
    else if (!strcmp(a, "-w") && v) opt_w = atoi(argv[++i]);
    else if (!strcmp(a, "-j") && v) opt_jobs = atoi(argv[++i]);
    else if (!strcmp(a, "-s") && v) opt_settle_ms = atoi(argv[++i]);
    else if (!strcmp(a, "-b") && v) opt_bridge = argv[++i];
    else if (!strcmp(a, "-p") && v) opt_prefix = argv[++i];
    else {
      fprintf(stderr, "usage: floor [-n N] [-k K] [-w W] [-j J] [-s MS] [-b BRIDGE] [-p PREFIX] [--ipv6] [--keep]\n");
      return 2;
    }
  }
  if (opt_n < 1 || opt_jobs < 1 || opt_jobs > 64 || opt_k < 0 || opt_w < 0 || opt_w + opt_k + opt_n > 65000) {
    fprintf(stderr, "floor: need 1 <= N, 1 <= J <= 64 and W + K + N <= 65000\n");
    return 2;
  }

  /* Setup, untimed: what `ip netns add` does once — /run/netns as a shared mount point. */
  if (mkdir(NETNS_DIR, 0755) < 0 && errno != EEXIST) die("mkdir " NETNS_DIR, errno);
  if (mount("", NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) < 0) {
    if (errno != EINVAL) die("make " NETNS_DIR " shared", errno);
    if (mount(NETNS_DIR, NETNS_DIR, "none", MS_BIND | MS_REC, NULL) < 0) die("bind " NETNS_DIR, errno);
    if (mount("", NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) < 0) die("make " NETNS_DIR " shared", errno);
  }
  bridge_index = if_nametoindex(opt_bridge);
  if (!bridge_index) die(opt_bridge, errno);
  host_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (host_ns < 0) die("open host netns", errno);
  /* All namespace work on one dedicated thread; the main thread stays where it was. */
  pthread_t t;
  int err = pthread_create(&t, NULL, run, NULL);
  if (err) die("pthread_create", err);
  pthread_join(t, NULL);
  return 0;
}
