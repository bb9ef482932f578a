/*@HEADER@*/
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <net/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct expect { const char *metric; const char *op; long long value; };
struct bpf_ins { unsigned short code; unsigned char jt, jf; unsigned int k; };
enum { KEEP_READING, RESTART, RETRY_LATER, STOP };

/*@CONFIG@*/

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#define NETLINK_NO_ENOBUFS_OPT 5

static void die(const char *what) {
	fprintf(stderr, "repro: %s: %s\n", what, strerror(errno));
	exit(2);
}

static double now_ms(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* The socket's row of /proc/net/netlink (found by inode): Rmem, Dump, Drops. */
struct row { long long rmem, dump, drops; int found; };
static struct row netlink_row(int fd) {
	struct row r = {0};
	struct stat st;
	if (fstat(fd, &st)) return r;
	FILE *f = fopen("/proc/net/netlink", "r");
	if (!f) return r;
	char line[512];
	while (fgets(line, sizeof line, f)) {
		char sk[32], groups[32]; long long eth, pid, rmem, wmem, dump, locks, drops; unsigned long long ino;
		if (sscanf(line, "%31s %lld %lld %31s %lld %lld %lld %lld %lld %llu", sk, &eth, &pid, groups,
			   &rmem, &wmem, &dump, &locks, &drops, &ino) == 10 && ino == (unsigned long long)st.st_ino) {
			r.rmem = rmem; r.dump = dump; r.drops = drops; r.found = 1;
		}
	}
	fclose(f);
	return r;
}

static void set_rcvbuf(int fd, int opt, long long bytes) {
	int v = (int)bytes;
	if (opt == 1 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v)) die("SO_RCVBUF");
	if (opt == 2 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v)) die("SO_RCVBUFFORCE (needs root)");
}

static void bind_groups(int fd, unsigned int groups) {
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = groups};
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa)) die("bind");
}

static int send_kernel(int fd, const void *msg, size_t len) {
	struct sockaddr_nl k = {.nl_family = AF_NETLINK};
	return sendto(fd, msg, len, 0, (struct sockaddr *)&k, sizeof k) < 0 ? -1 : 0;
}

/* rtnetlink request with an ack; returns the errno of the ack (0 for success). */
static int rtnl_call(int fd, void *msg, size_t len) {
	struct nlmsghdr *h = msg;
	h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	if (send_kernel(fd, msg, len)) return errno;
	char buf[8192];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n < 0) return errno;
		for (struct nlmsghdr *r = (void *)buf; NLMSG_OK(r, n); r = NLMSG_NEXT(r, n))
			if (r->nlmsg_type == NLMSG_ERROR) return -((struct nlmsgerr *)NLMSG_DATA(r))->error;
	}
}

static void put_attr(char *msg, int type, const void *data, int len) {
	struct nlmsghdr *h = (void *)msg;
	struct rtattr *a = (void *)(msg + NLMSG_ALIGN(h->nlmsg_len));
	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	if (len) memcpy(RTA_DATA(a), data, len);
	h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(a->rta_len);
}

static struct rtattr *nest(char *msg, int type) {
	struct nlmsghdr *h = (void *)msg;
	struct rtattr *a = (void *)(msg + NLMSG_ALIGN(h->nlmsg_len));
	put_attr(msg, type, NULL, 0);
	return a;
}

static void end_nest(char *msg, struct rtattr *a) {
	struct nlmsghdr *h = (void *)msg;
	a->rta_len = (char *)msg + h->nlmsg_len - (char *)a;
}

static void link_up(int rt, int index, int up) {
	struct { struct nlmsghdr h; struct ifinfomsg i; } m = {0};
	m.h.nlmsg_len = sizeof m;
	m.h.nlmsg_type = RTM_NEWLINK;
	m.i.ifi_index = index;
	m.i.ifi_flags = up ? IFF_UP : 0;
	m.i.ifi_change = IFF_UP;
	int e = rtnl_call(rt, &m, sizeof m);
	if (e) { errno = e; die("set a link up or down"); }
}

static void add_veth(int rt, const char *name) {
	char msg[1024] = {0}, peer[64];
	struct nlmsghdr *h = (void *)msg;
	h->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	h->nlmsg_type = RTM_NEWLINK;
	h->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	put_attr(msg, IFLA_IFNAME, name, strlen(name) + 1);
	struct rtattr *info = nest(msg, IFLA_LINKINFO);
	put_attr(msg, IFLA_INFO_KIND, "veth", 4);
	struct rtattr *data = nest(msg, IFLA_INFO_DATA);
	struct rtattr *p = nest(msg, 1 /* VETH_INFO_PEER */);
	h->nlmsg_len += sizeof(struct ifinfomsg);
	snprintf(peer, sizeof peer, "%sp", name);
	put_attr(msg, IFLA_IFNAME, peer, strlen(peer) + 1);
	end_nest(msg, p);
	end_nest(msg, data);
	end_nest(msg, info);
	int e = rtnl_call(rt, msg, h->nlmsg_len);
	if (e) { errno = e; die("create a veth pair (CONFIG_VETH)"); }
}

static int if_index(const char *name) {
	char path[128], buf[32];
	snprintf(path, sizeof path, "/sys/class/net/%s/ifindex", name);
	int fd = open(path, O_RDONLY);
	if (fd < 0) return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0) return -1;
	buf[n] = 0;
	return atoi(buf);
}

static void private_sysfs(void) {
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) die("make / private");
	if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) die("mount sysfs");
}

static int expectations_hold(const char *metric, long long got) {
	int all = 1;
	for (size_t i = 0; i < sizeof EXPECT / sizeof EXPECT[0]; i++) {
		const struct expect *e = &EXPECT[i];
		if (strcmp(e->metric, metric)) continue;
		int ok = !strcmp(e->op, "==") ? got == e->value : !strcmp(e->op, "!=") ? got != e->value
		       : !strcmp(e->op, ">=") ? got >= e->value : !strcmp(e->op, "<=") ? got <= e->value
		       : !strcmp(e->op, ">") ? got > e->value : got < e->value;
		printf("  expect %s %s %lld: measured %lld: %s\n", e->metric, e->op, e->value, got, ok ? "holds" : "FAILS");
		all &= ok;
	}
	return all;
}

/* ---------------- broadcast overrun ---------------- */

static int msg_len;
static char msg[70000];

static void build_message(long seq, int written) {
	memset(msg, 'x', sizeof msg);
	if (EMITTER == 0) { /* usersock: "NL" + source + tag + seq, then padding */
		memcpy(msg, "NL", 2);
		memcpy(msg + 8, &seq, 8);
		msg_len = PAYLOAD;
	} else if (EMITTER == 1 || EMITTER == 3) { /* synthetic or injected uevent, kernel format */
		int n = snprintf(msg, sizeof msg, "add@/devices/virtual/nlstorm%c" "ACTION=add%c" "DEVPATH=/devices/virtual/nlstorm%c"
				 "SUBSYSTEM=nlstorm%c" "SEQNUM=%ld%c" "NLSTORMPAD=", 0, 0, 0, 0, seq, 0);
		msg[n] = 'x';
		int want = EMITTER == 3 ? written : PAYLOAD; /* injected: the kernel appends SEQNUM */
		msg_len = want > n + 1 ? want : n + 1;
		msg[msg_len - 1] = 0;
	} else { /* kernel uevent through sysfs: the kernel adds its own keys */
		int n = snprintf(msg, sizeof msg, "change 00000000-0000-4000-8000-000000000000 NLSTORMSEQ=%ld NLSTORMPAD=", seq);
		msg[n] = 'x';
		msg_len = written > n + 1 ? written : n + 1;
	}
}

static int open_sender(void) {
	if (EMITTER == 2) {
		int fd = open("/sys/class/net/lo/uevent", O_WRONLY);
		if (fd < 0) die("open /sys/class/net/lo/uevent");
		return fd;
	}
	int fd = socket(AF_NETLINK, SOCK_RAW, EMITTER == 0 ? NETLINK_USERSOCK : NETLINK_KOBJECT_UEVENT);
	if (fd < 0) die("sender socket");
	int v = 256 * 1024;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof v);
	bind_groups(fd, 0);
	return fd;
}

static void send_one(int fd) {
	if (EMITTER == 2) {
		if (pwrite(fd, msg, msg_len, 0) < 0) die("write the uevent file");
		return;
	}
	if (EMITTER == 3) { /* to the namespace's kernel uevent socket, which rebroadcasts it */
		struct nlmsghdr h = {.nlmsg_len = NLMSG_HDRLEN + msg_len, .nlmsg_type = 0x10,
				     .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK};
		struct iovec iov[2] = {{&h, NLMSG_HDRLEN}, {msg, msg_len}};
		struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
		struct msghdr m = {.msg_name = &kernel, .msg_namelen = sizeof kernel, .msg_iov = iov, .msg_iovlen = 2};
		if (sendmsg(fd, &m, 0) < 0) die("inject a uevent");
		char ack[64];
		ssize_t n = recv(fd, ack, sizeof ack, MSG_DONTWAIT);
		int err = n >= (ssize_t)(NLMSG_HDRLEN + 4) ? *(int *)(ack + NLMSG_HDRLEN) : -EIO;
		if (err) { errno = -err; die("the kernel refused an injected uevent"); }
		return;
	}
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = 1u << (GROUP - 1)};
	if (sendto(fd, msg, msg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != ECONNREFUSED)
		die("broadcast");
}

static int broadcast_case(void) {
	if (unshare(CLONE_NEWNET | CLONE_NEWNS)) die("unshare (run as root)");
	if (EMITTER == 2) private_sysfs();
	int proto = EMITTER == 0 ? NETLINK_USERSOCK : NETLINK_KOBJECT_UEVENT;
	int sender = open_sender();
	int written = PAYLOAD;
	if (EMITTER == 2 || EMITTER == 3) { /* how much does the kernel add? one calibration event says */
		int cal = socket(AF_NETLINK, SOCK_RAW, proto);
		bind_groups(cal, 1u << (GROUP - 1));
		build_message(999999, 0);
		send_one(sender);
		char buf[8192];
		ssize_t n = recv(cal, buf, sizeof buf, MSG_DONTWAIT);
		if (n <= 0) die("receive the calibration uevent");
		written = PAYLOAD - (int)(n - msg_len);
		close(cal);
		printf("kernel adds %d bytes to %s uevent here\n", (int)(n - msg_len), EMITTER == 2 ? "a sysfs" : "an injected");
	}
	int rx = socket(AF_NETLINK, SOCK_RAW, proto);
	if (rx < 0) die("receiver socket");
	set_rcvbuf(rx, RCVBUF_OPT, RCVBUF);
	if (NO_ENOBUFS) { int one = 1; setsockopt(rx, SOL_NETLINK, NETLINK_NO_ENOBUFS_OPT, &one, sizeof one); }
	bind_groups(rx, 1u << (GROUP - 1));
	int eff; socklen_t el = sizeof eff;
	getsockopt(rx, SOL_SOCKET, SO_RCVBUF, &eff, &el);
	long sent = 0;
	for (long b = 0; b < BURSTS; b++) {
		if (b) usleep(GAP_US);
		for (long i = 0; i < BURST; i++) { build_message(sent, written); send_one(sender); sent++; }
	}
	long delivered = 0, enobufs = 0;
	char *buf = malloc(1 << 17);
	for (;;) {
		ssize_t n = recv(rx, buf, 1 << 17, MSG_DONTWAIT);
		if (n >= 0) delivered++;
		else if (errno == ENOBUFS) enobufs++;
		else break;
	}
	struct row r = netlink_row(rx);
	printf("receiver: rcvbuf effective %d; sent %ld, delivered %ld, lost %ld, ENOBUFS %ld, kernel drops %lld\n",
	       eff, sent, delivered, sent - delivered, enobufs, r.drops);
	int held = expectations_hold("sent", sent) & expectations_hold("delivered", delivered) &
		   expectations_hold("lost", sent - delivered) & expectations_hold("enobufs", enobufs) &
		   expectations_hold("kernel-drops", r.drops);
	return held; /* all holding means the failure did not come back */
}

/* ---------------- dump hang ---------------- */

static const char *classify(int stopped, int truncated, struct row r, long long drops_at_request) {
	if (!r.found) return "unknown";
	if (stopped && (r.dump == 1 || r.rmem > 0)) return "stopped-mid-dump";
	if (truncated) return "truncated";
	if (r.dump == 1 && r.rmem == 0) return "dump-stalled";
	if (r.drops > drops_at_request) return "reply-lost";
	if (r.dump == 0 && r.rmem == 0) return "nothing-outstanding";
	return "unknown";
}

static int hangs, hangs_expected, completed, requests, calls, truncs, ebusys, enobufs_seen;

static void hang(int fd, int stopped, int truncated, long long drops_at_request, unsigned seq, double waited) {
	struct row r = netlink_row(fd);
	const char *c = classify(stopped, truncated, r, drops_at_request);
	hangs++;
	if (!strcmp(c, EXPECT_CLASS)) hangs_expected++;
	printf("HANG %s: waited %.0f ms for seq %u; /proc/net/netlink Dump=%lld Rmem=%lld Drops=%lld (at request %lld)\n",
	       c, waited, seq, r.dump, r.rmem, r.drops, drops_at_request);
}

/* ---------------- dump completeness ---------------- */

/* Objects named by the kernel's identifiers: ifindex for links, inode for sockets. A
 * completed dump must list every object present both before its request and after its
 * NLMSG_DONE; what came or went in between proves nothing either way. */
#define MAX_OBJECTS 65536
struct set { unsigned n; unsigned v[MAX_OBJECTS]; };
static struct set before, after, listed;
static int shorts;

static int set_has(const struct set *s, unsigned v) {
	for (unsigned i = 0; i < s->n; i++)
		if (s->v[i] == v) return 1;
	return 0;
}

static void set_add(struct set *s, unsigned v) {
	if (v && !set_has(s, v) && s->n < MAX_OBJECTS) s->v[s->n++] = v;
}

/* What the namespace holds, read another way than the dump: sysfs (mounted privately in
 * this namespace) for links, /proc/net/tcp for TCP/IPv4 sockets. */
static void present(struct set *s) {
	s->n = 0;
	char path[512], line[512];
	if (REQUEST == 0) {
		DIR *d = opendir("/sys/class/net");
		if (!d) die("open /sys/class/net");
		for (struct dirent *e; (e = readdir(d));) {
			if (e->d_name[0] == '.') continue;
			snprintf(path, sizeof path, "/sys/class/net/%s/ifindex", e->d_name);
			FILE *f = fopen(path, "r");
			unsigned i;
			if (f && fscanf(f, "%u", &i) == 1) set_add(s, i);
			if (f) fclose(f);
		}
		closedir(d);
		return;
	}
	FILE *f = fopen("/proc/net/tcp", "r");
	if (!f) die("open /proc/net/tcp");
	if (!fgets(line, sizeof line, f)) die("read /proc/net/tcp"); /* its header */
	while (fgets(line, sizeof line, f)) {
		unsigned long inode;
		if (sscanf(line, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %lu", &inode) == 1) set_add(s, (unsigned)inode);
	}
	fclose(f);
}

/* The object a reply message lists, or 0. */
static unsigned listed_object(const struct nlmsghdr *h) {
	if (REQUEST == 0 && h->nlmsg_type == RTM_NEWLINK && h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct ifinfomsg)))
		return ((const struct ifinfomsg *)NLMSG_DATA(h))->ifi_index;
	if (REQUEST == 1 && h->nlmsg_type == 20 && h->nlmsg_len >= NLMSG_LENGTH(72)) {
		unsigned inode; /* struct inet_diag_msg: idiag_inode is its last field, at 68 */
		memcpy(&inode, (const char *)NLMSG_DATA(h) + 68, sizeof inode);
		return inode;
	}
	return 0;
}

static void judge_dump(unsigned seq) {
	present(&after);
	unsigned throughout = 0, missed = 0;
	for (unsigned i = 0; i < before.n; i++) {
		if (!set_has(&after, before.v[i])) continue;
		throughout++;
		if (!set_has(&listed, before.v[i])) missed++;
	}
	if (!missed) return;
	shorts++;
	printf("SHORT dump seq %u ended with NLMSG_DONE but listed %u objects: %u of the %u present throughout were missing\n",
	       seq, listed.n, missed, throughout);
}

static void dump_request(int fd, unsigned seq) {
	char m[128] = {0};
	struct nlmsghdr *h = (void *)m;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	h->nlmsg_seq = seq;
	if (REQUEST == 0) {
		h->nlmsg_type = RTM_GETLINK;
		h->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	} else {
		h->nlmsg_type = 20; /* SOCK_DIAG_BY_FAMILY; inet_diag_req_v2 follows */
		h->nlmsg_len = NLMSG_LENGTH(56);
		unsigned char *b = NLMSG_DATA(h);
		b[0] = AF_INET; b[1] = IPPROTO_TCP;
		memset(b + 4, 0xff, 4); /* every TCP state */
	}
	if (VERIFY) { present(&before); listed.n = 0; }
	if (send_kernel(fd, m, h->nlmsg_len)) die("send the dump request");
	requests++;
}

static int dump_case(void) {
	if (unshare(CLONE_NEWNET | CLONE_NEWNS)) die("unshare (run as root)");
	private_sysfs();
	int rt = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	bind_groups(rt, 0);
	link_up(rt, 1, 1); /* lo */
	char name[32];
	for (int i = 0; i < VETHS; i++) { snprintf(name, sizeof name, "nlw%d", i); add_veth(rt, name); }
	int lst = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (bind(lst, (void *)&a, sizeof a) || listen(lst, 4096) || getsockname(lst, (void *)&a, &al)) die("TCP listener");
	for (int i = 0; i < TCP_CONNS; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(c, (void *)&a, sizeof a)) die("connect");
		if (accept(lst, NULL, NULL) < 0) die("accept");
	}
	int fd = socket(AF_NETLINK, SOCK_RAW, REQUEST == 0 ? NETLINK_ROUTE : NETLINK_SOCK_DIAG);
	if (fd < 0) die("dump socket");
	set_rcvbuf(fd, RCVBUF_OPT, RCVBUF);
	if (NO_ENOBUFS) { int one = 1; setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS_OPT, &one, sizeof one); }
	struct timeval tv = {CALL_DEADLINE_MS / 1000, (CALL_DEADLINE_MS % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (sizeof FILTER / sizeof FILTER[0] > 1) {
		struct sock_fprog prog = {sizeof FILTER / sizeof FILTER[0] - 1, (struct sock_filter *)(FILTER + 1)};
		if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog)) die("SO_ATTACH_FILTER");
	}
	bind_groups(fd, GROUPS);
	struct sockaddr_nl me; socklen_t ml = sizeof me;
	getsockname(fd, (void *)&me, &ml);
	int churn_index = VETHS > 0 ? if_index("nlw0") : -1;
	int bufsize = READ_BUFFER > EVENT_READ_BUFFER ? READ_BUFFER : EVENT_READ_BUFFER;
	char *buf = malloc(bufsize);
	unsigned seq = 0;
	int stopped = 0;
	for (int d = 0; d < COUNT && !stopped; d++) {
		/* Link events before each request, as nlstorm's churn makes between dumps: for
		 * the larger event buffer to read, or to lie queued when the request arrives. */
		if ((EVENT_READ_BUFFER || CHURN_LINKS) && churn_index > 0) {
			link_up(rt, churn_index, 0);
			link_up(rt, churn_index, 1);
		}
		if (EVENT_READ_BUFFER)
			while (recv(fd, buf, EVENT_READ_BUFFER, MSG_DONTWAIT) >= 0 || errno == ENOBUFS) {}
		int truncated = 0, done = 0;
		double started = now_ms();
		seq++;
		long long drops_at_request = netlink_row(fd).drops;
		dump_request(fd, seq);
		while (!done) {
			if (now_ms() - started > 10.0 * CALL_DEADLINE_MS) { /* calls return, the reply never ends */
				hang(fd, 0, truncated, drops_at_request, seq, now_ms() - started);
				break;
			}
			double t = now_ms();
			struct iovec iov = {buf, READ_BUFFER};
			struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
			calls++;
			ssize_t n = recvmsg(fd, &mh, 0);
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				hang(fd, 0, truncated, drops_at_request, seq, now_ms() - t);
				break;
			}
			int react = -1;
			if (n < 0 && errno == ENOBUFS) { enobufs_seen++; react = ON_ENOBUFS; }
			else if (n < 0) die("recvmsg");
			else {
				if (mh.msg_flags & MSG_TRUNC) { truncs++; truncated = 1; }
				for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, n) && !done; h = NLMSG_NEXT(h, n)) {
					if (h->nlmsg_seq != seq || (h->nlmsg_pid != me.nl_pid && h->nlmsg_pid != 0)) continue;
					if (h->nlmsg_type == NLMSG_DONE) { done = 1; completed++; if (VERIFY) judge_dump(seq); }
					else if (h->nlmsg_type == NLMSG_ERROR) {
						int e = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
						if (e == EBUSY) { ebusys++; react = ON_EBUSY; }
						else if (e) react = ON_ERROR;
					} else if (VERIFY) set_add(&listed, listed_object(h));
				}
				if (!done && react < 0 && (mh.msg_flags & MSG_TRUNC)) react = ON_TRUNCATED;
			}
			if (done || react < 0 || react == KEEP_READING) continue;
			if (react == RESTART) { seq++; drops_at_request = netlink_row(fd).drops; dump_request(fd, seq); continue; }
			if (react == RETRY_LATER) break;
			stopped = 1; /* STOP: leave the socket as it is and look at the kernel's side */
			usleep(3 * CALL_DEADLINE_MS * 1000);
			struct row r = netlink_row(fd);
			if (r.dump == 1 || r.rmem > 0) hang(fd, 1, truncated, drops_at_request, seq, 3.0 * CALL_DEADLINE_MS);
			break;
		}
		usleep(INTERVAL_US);
	}
	printf("dump client: %d requests, %d completed, %d calls, %d truncated, %d EBUSY, %d ENOBUFS, %d hangs (%d %s), %d short dumps\n",
	       requests, completed, calls, truncs, ebusys, enobufs_seen, hangs, hangs_expected, EXPECT_CLASS, shorts);
	return EXPECT_SHORT ? shorts == 0 : hangs_expected == 0;
}

int main(void) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	int not_reproduced = MODE == 0 ? broadcast_case() : dump_case();
	printf("%s\n", not_reproduced ? "NOT REPRODUCED" : "REPRODUCED");
	return not_reproduced;
}
