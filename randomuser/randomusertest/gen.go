package randomusertest

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The generator writes JSON and CSV straight into a byte slice from
// precomputed tables, without building maps or calling encoding/json, and
// gives every user its own random stream derived from (seed, page, index).
// That makes a user independent of the users before it, so the output is
// deterministic, a smaller page is a prefix of a larger one, and pages could
// be generated in parallel.

// entry is a name with its precomputed email part (transliterated to ASCII,
// lowercase, without spaces) and initial.
type entry struct {
	s       string
	email   string
	initial byte
}

type nat struct {
	code, country           string
	male, female, last      []entry
	streets, cities, states []string
	phone, cell, post       []template
	postMin, postMax        int
	idName                  string
}

var (
	nats      []*nat // the 21 nationalities in API order
	lego      *nat
	natByCode = map[string]*nat{}
)

func init() {
	for _, s := range natSources {
		n := &nat{
			code: s.code, country: s.country,
			male: entries(s.male), female: entries(s.female), last: entries(s.last),
			streets: split(s.streets), cities: split(s.cities), states: split(s.states),
			phone: templates(s.phone), cell: templates(s.cell), post: templates(s.postcode),
			postMin: s.postMin, postMax: s.postMax, idName: s.idName,
		}
		if n.code == "LEGO" {
			lego = n
			continue
		}
		nats = append(nats, n)
		natByCode[n.code] = n
	}
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "|")
}

func entries(s string) []entry {
	names := split(s)
	out := make([]entry, len(names))
	for i, n := range names {
		e := transliterate(n)
		out[i] = entry{s: n, email: e, initial: 'X'}
		if e != "" && e[0] >= 'a' && e[0] <= 'z' {
			out[i].initial = e[0] - 'a' + 'A'
		}
	}
	return out
}

// translit maps the non-ASCII letters of the name lists to ASCII. Persian
// follows the API's transliterator, which drops the alef and writes kaf as
// "kh" (آیناز کریمی → aynz.khrymy).
var translit = map[rune]string{
	'á': "a", 'à': "a", 'â': "a", 'ä': "a", 'ã': "a", 'å': "a", 'æ': "ae",
	'ç': "c", 'ć': "c", 'č': "c", 'đ': "d", 'ð': "d",
	'é': "e", 'è': "e", 'ê': "e", 'ë': "e", 'ğ': "g",
	'í': "i", 'ì': "i", 'î': "i", 'ï': "i", 'ı': "i", 'İ': "i",
	'ñ': "n", 'ó': "o", 'ò': "o", 'ô': "o", 'õ': "o", 'ö': "o", 'ø': "o", 'œ': "oe",
	'ş': "s", 'š': "s", 'ß': "ss", 'ú': "u", 'ù': "u", 'û': "u", 'ü': "u", 'ý': "y", 'ž': "z",
	'Á': "a", 'Å': "a", 'Ä': "a", 'Ç': "c", 'Č': "c", 'Đ': "d", 'É': "e", 'Í': "i",
	'Ö': "o", 'Ø': "o", 'Ó': "o", 'Ş': "s", 'Š': "s", 'Ü': "u", 'Ú': "u", 'Ž': "z",
	'آ': "a", 'ا': "", 'ب': "b", 'پ': "p", 'ت': "t", 'ث': "s", 'ج': "j", 'چ': "ch",
	'ح': "h", 'خ': "kh", 'د': "d", 'ذ': "z", 'ر': "r", 'ز': "z", 'ژ': "zh", 'س': "s",
	'ش': "sh", 'ص': "s", 'ض': "z", 'ط': "t", 'ظ': "z", 'ع': "", 'غ': "gh", 'ف': "f",
	'ق': "q", 'ک': "kh", 'ك': "kh", 'گ': "g", 'ل': "l", 'م': "m", 'ن': "n", 'و': "v",
	'ه': "h", 'ی': "y", 'ي': "y", 'ئ': "y", 'ء': "", 'ة': "h", 'أ': "a", 'ؤ': "v",
}

// transliterate returns the email form of a name: ASCII letters and digits,
// lowercase, without spaces or punctuation.
func transliterate(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				b.WriteRune(unicode.ToLower(r))
			}
		default:
			if t, ok := translit[r]; ok {
				b.WriteString(t)
			} else if t, ok := translit[unicode.ToLower(r)]; ok {
				b.WriteString(t)
			}
		}
	}
	return b.String()
}

// template is a compiled format such as "(%##) %##-####"; see natSource.
type template []tok

type tok struct {
	kind byte // 'l' literal, '#', '%', '@', 's' set
	lit  byte
	set  string
}

func templates(s string) []template {
	var out []template
	for _, alt := range split(s) {
		out = append(out, compileTemplate(alt))
	}
	return out
}

func compileTemplate(s string) template {
	var t template
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '#', '%', '@':
			t = append(t, tok{kind: c})
		case '[':
			j := strings.IndexByte(s[i:], ']')
			t = append(t, tok{kind: 's', set: s[i+1 : i+j]})
			i += j
		default:
			t = append(t, tok{kind: 'l', lit: c})
		}
	}
	return t
}

func appendTemplate(dst []byte, ts []template, r *rng) []byte {
	t := ts[0]
	if len(ts) > 1 {
		t = ts[r.intn(len(ts))]
	}
	return appendTemplateOne(dst, t, r)
}

func appendTemplateOne(dst []byte, t template, r *rng) []byte {
	for _, k := range t {
		switch k.kind {
		case 'l':
			dst = append(dst, k.lit)
		case '#':
			dst = append(dst, byte('0'+r.intn(10)))
		case '%':
			dst = append(dst, byte('2'+r.intn(8)))
		case '@':
			dst = append(dst, byte('A'+r.intn(26)))
		case 's':
			dst = append(dst, k.set[r.intn(len(k.set))])
		}
	}
	return dst
}

// rng is splitmix64: tiny state, fast, and good enough for test data.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// mix64 is the splitmix64 finalizer. It is a bijection on uint64, which the
// UUIDs rely on for uniqueness.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a number in [0, n) (Lemire's multiply-shift, no division).
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int(hi)
}

// fnv64 is FNV-1a, used to turn seeds into keys.
func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// Date ranges of the API (fixed by its constantTime), in Unix milliseconds.
var (
	dobMin = time.Date(1944, 8, 25, 17, 46, 40, 0, time.UTC).UnixMilli()
	dobMax = time.Date(2001, 5, 28, 22, 16, 29, 0, time.UTC).UnixMilli()
	regMin = time.Date(2002, 3, 21, 5, 27, 41, 0, time.UTC).UnixMilli()
	regMax = time.Date(2022, 5, 23, 22, 16, 29, 0, time.UTC).UnixMilli()
)

// Field bits, in the key order of a user.
const (
	fGender = 1 << iota
	fName
	fLocation
	fEmail
	fLogin
	fDOB
	fRegistered
	fPhone
	fCell
	fID
	fPicture
	fNat
	fAll = 1<<iota - 1
)

var fieldBits = map[string]uint16{
	"gender": fGender, "name": fName, "location": fLocation, "email": fEmail,
	"login": fLogin, "dob": fDOB, "registered": fRegistered, "phone": fPhone,
	"cell": fCell, "id": fID, "picture": fPicture, "nat": fNat,
}

// civil is a broken-down UTC time.
type civil struct {
	y, mo, d, h, mi, s, ms int
}

// toCivil converts Unix milliseconds (Howard Hinnant's days-to-civil), far
// cheaper than time.Time formatting for millions of dates.
func toCivil(ms int64) civil {
	days := floorDiv(ms, 86400000)
	rem := int(ms - days*86400000)
	z := days + 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if mp >= 10 {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return civil{int(y), int(m), int(d), rem / 3600000, rem / 60000 % 60, rem / 1000 % 60, rem % 1000}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// age is the number of whole years from c to ref.
func age(c, ref civil) int {
	a := ref.y - c.y
	if ref.mo < c.mo || (ref.mo == c.mo && (ref.d < c.d || (ref.d == c.d &&
		ref.h*3600000+ref.mi*60000+ref.s*1000+ref.ms < c.h*3600000+c.mi*60000+c.s*1000+c.ms))) {
		a--
	}
	return a
}

func appendISO(dst []byte, c civil) []byte {
	dst = appendPad(dst, c.y, 4)
	dst = append(dst, '-')
	dst = appendPad(dst, c.mo, 2)
	dst = append(dst, '-')
	dst = appendPad(dst, c.d, 2)
	dst = append(dst, 'T')
	dst = appendPad(dst, c.h, 2)
	dst = append(dst, ':')
	dst = appendPad(dst, c.mi, 2)
	dst = append(dst, ':')
	dst = appendPad(dst, c.s, 2)
	dst = append(dst, '.')
	dst = appendPad(dst, c.ms, 3)
	return append(dst, 'Z')
}

// appendPad appends a non-negative n with at least width digits.
func appendPad(dst []byte, n, width int) []byte {
	var b [20]byte
	i := len(b)
	for n >= 10 || width > 1 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		width--
	}
	i--
	b[i] = byte('0' + n)
	return append(dst, b[i:]...)
}

func appendDigits(dst []byte, r *rng, n int) []byte {
	for range n {
		dst = append(dst, byte('0'+r.intn(10)))
	}
	return dst
}

// passSpec is a parsed password parameter.
type passSpec struct {
	chars    string // "" means the list of common passwords
	min, max int
}

const (
	specialChars = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
	upperChars   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	lowerChars   = "abcdefghijklmnopqrstuvwxyz"
	numberChars  = "0123456789"
	saltChars    = upperChars + lowerChars + numberChars
)

// parsePassword follows the API: CHARSETS[,N or ,MIN-MAX]; a bad min
// becomes 8, a bad max 64, no valid charset means the word list.
func parsePassword(v string) passSpec {
	p := passSpec{min: 8, max: 64}
	parts := strings.Split(strings.ToLower(v), ",")
	if n := len(parts); n > 1 {
		last := parts[n-1]
		lo, hi, isRange := strings.Cut(last, "-")
		if a, err := strconv.Atoi(lo); err == nil {
			parts = parts[:n-1]
			p.min = a
			p.max = a
			if isRange {
				p.max = -1
				if b, err := strconv.Atoi(hi); err == nil {
					p.max = b
				}
			}
		}
	}
	if p.min < 1 || p.min > 64 {
		p.min = 8
	}
	if p.max < 1 || p.max > 64 || p.max < p.min {
		p.max = 64
	}
	var seen [4]bool
	for _, c := range parts {
		for i, name := range [4]string{"special", "upper", "lower", "number"} {
			if c == name && !seen[i] {
				seen[i] = true
				p.chars += [4]string{specialChars, upperChars, lowerChars, numberChars}[i]
			}
		}
	}
	return p
}

// user is one generated user, held in fixed-size arrays so that generating
// it allocates nothing.
type user struct {
	nat         *nat
	female      bool
	title       string
	first, last *entry
	tz          int
	streetNo    int
	street      string
	city, state string
	post        [12]byte
	postLen     int
	postAlt     int // the postcode template used, when postLen > 0
	postNum     int // numeric postcode, when postLen == 0
	lat, lng    int // in 1e-4 degrees
	uuid        [36]byte
	username    [32]byte
	userLen     int
	password    [64]byte
	passLen     int
	salt        [8]byte
	md5         [32]byte
	sha1        [40]byte
	sha256      [64]byte
	dob, reg    civil
	dobAge      int
	regAge      int
	portrait    int
	phone, cell [24]byte
	phoneLen    int
	cellLen     int
	id          [24]byte
	idLen       int
	rev         int // the revision; see WithChangeShare
}

// genParams are the normalized request parameters.
type genParams struct {
	results  int
	seed     string // the part of the seed that is hashed
	infoSeed string
	pageStr  string // page as echoed in info
	pageInt  int
	gender   string // "", "male" or "female"
	nats     []*nat
	fields   uint16
	pass     passSpec
	ref      civil // reference time for ages
	key      uint64
	day      int    // the day served, when changeT != 0
	changeT  uint64 // see Handler.changeT
}

// generate fills u with user number idx of the page.
func (p *genParams) generate(idx int, u *user) {
	// a is unique per (page, index) within a seed, since mix64 is a
	// bijection: the UUIDs built from it never collide within a seed.
	a := userKey(p.key, p.pageInt, idx)
	r := rng{s: a ^ 0x5851f42d4c957f2d}

	n := p.nats[0]
	if len(p.nats) > 1 {
		n = p.nats[r.intn(len(p.nats))]
	}
	u.nat = n
	switch p.gender {
	case "male":
		u.female = false
	case "female":
		u.female = true
	default:
		u.female = r.intn(2) == 1
	}
	if u.female {
		u.first = &n.female[r.intn(len(n.female))]
	} else {
		u.first = &n.male[r.intn(len(n.male))]
	}
	u.last = &n.last[r.intn(len(n.last))]
	switch {
	case n.code == "CH" && u.female:
		u.title = [2]string{"Mademoiselle", "Madame"}[r.intn(2)]
	case n.code == "CH":
		u.title = "Monsieur"
	case u.female:
		u.title = [3]string{"Miss", "Mrs", "Ms"}[r.intn(3)]
	default:
		u.title = "Mr"
	}
	u.tz = r.intn(len(timezones))
	u.streetNo = 1 + r.intn(9999)
	u.street = n.streets[r.intn(len(n.streets))]
	u.city = n.cities[r.intn(len(n.cities))]
	u.state = n.states[r.intn(len(n.states))]
	if len(n.post) > 0 {
		// appendTemplate's draws, keeping the template for change.
		u.postAlt = 0
		if len(n.post) > 1 {
			u.postAlt = r.intn(len(n.post))
		}
		u.postLen = len(appendTemplateOne(u.post[:0], n.post[u.postAlt], &r))
	} else {
		u.postLen = 0
		u.postNum = n.postMin + r.intn(n.postMax-n.postMin+1)
	}
	u.lat = r.intn(1800001) - 900000
	u.lng = r.intn(3600001) - 1800000

	// UUID version 4: 64 bits of a (unique) and 58 random bits.
	b := r.next()
	var nib [32]byte
	for i := range 12 {
		nib[i] = byte(a >> (60 - 4*i) & 15)
	}
	nib[12] = 4
	for i := 13; i < 16; i++ {
		nib[i] = byte(a >> (60 - 4*(i-1)) & 15)
	}
	nib[16] = 8 | byte(b&3)
	nib[17] = byte(a & 15)
	for i := 18; i < 32; i++ {
		nib[i] = byte(b >> (2 + 4*(i-18)) & 15)
	}
	j := 0
	for i := range 32 {
		if i == 8 || i == 12 || i == 16 || i == 20 {
			u.uuid[j] = '-'
			j++
		}
		u.uuid[j] = "0123456789abcdef"[nib[i]]
		j++
	}

	for i := range u.salt {
		u.salt[i] = saltChars[r.intn(len(saltChars))]
	}
	if p.pass.chars == "" {
		u.passLen = copy(u.password[:], commonPasswords[r.intn(len(commonPasswords))])
	} else {
		u.passLen = p.pass.min + r.intn(p.pass.max-p.pass.min+1)
		for i := range u.passLen {
			u.password[i] = p.pass.chars[r.intn(len(p.pass.chars))]
		}
	}
	un := append(u.username[:0], adjectives[r.intn(len(adjectives))]...)
	un = append(un, animals[r.intn(len(animals))]...)
	un = strconv.AppendInt(un, int64(100+r.intn(900)), 10)
	u.userLen = len(un)

	u.dob = toCivil(dobMin + int64(r.intn(int(dobMax-dobMin+1))))
	u.reg = toCivil(regMin + int64(r.intn(int(regMax-regMin+1))))
	u.dobAge = age(u.dob, p.ref)
	u.regAge = age(u.reg, p.ref)
	if n == lego {
		u.portrait = r.intn(10)
	} else if u.female {
		u.portrait = r.intn(97)
	} else {
		u.portrait = r.intn(100)
	}
	u.phoneLen = len(appendTemplate(u.phone[:0], n.phone, &r))
	u.cellLen = len(appendTemplate(u.cell[:0], n.cell, &r))
	u.idLen = len(appendID(u.id[:0], u, &r))
	u.rev = 0
	if p.changeT != 0 && p.day > 0 {
		if rev := revision(a, p.day, p.changeT); rev > 0 {
			change(u, a, rev)
		}
	}

	if p.fields&fLogin != 0 {
		// Hashing is the most expensive step; skip it when login is excluded.
		var in [72]byte
		k := copy(in[:], u.password[:u.passLen])
		k += copy(in[k:], u.salt[:])
		m := md5.Sum(in[:k])
		hex.Encode(u.md5[:], m[:])
		s1 := sha1.Sum(in[:k])
		hex.Encode(u.sha1[:], s1[:])
		s2 := sha256.Sum256(in[:k])
		hex.Encode(u.sha256[:], s2[:])
	}
}

// appendID writes the national id value; nothing for IR, NZ, TR, UA.
func appendID(dst []byte, u *user, r *rng) []byte {
	switch u.nat.code {
	case "AU", "RS":
		return appendDigits(dst, r, 9)
	case "BR":
		return appendTemplate(dst, tplCPF, r)
	case "CA":
		// Nine digits with a valid Luhn check digit.
		var d [9]int
		sum := 0
		for i := range 8 {
			d[i] = r.intn(10)
			v := d[i]
			if i%2 == 1 {
				v *= 2
				if v > 9 {
					v -= 9
				}
			}
			sum += v
		}
		d[8] = (10 - sum%10) % 10
		for _, v := range d {
			dst = append(dst, byte('0'+v))
		}
		return dst
	case "CH":
		return appendTemplate(dst, tplAVS, r)
	case "DE":
		// PP DDMMYY I NNd, where YY is year-1900 (so 2000 gives 100) and NN
		// is 00-49 for men, 50-99 for women.
		dst = appendDigits(dst, r, 2)
		dst = append(dst, ' ')
		dst = appendDDMMYY(dst, u.dob)
		dst = append(dst, ' ', u.last.initial, ' ')
		nn := r.intn(50)
		if u.female {
			nn += 50
		}
		dst = appendPad(dst, nn, 2)
		return append(dst, byte('0'+r.intn(10)))
	case "DK":
		dst = appendDDMMYY(dst, u.dob)
		dst = append(dst, '-')
		return appendDigits(dst, r, 4)
	case "ES":
		return appendTemplate(dst, tplDNI, r)
	case "FI":
		// The API's HETU generator is broken and really returns this.
		return appendTemplate(dst, tplHETU, r)
	case "FR":
		// {sex}{YY}{0-based month}{8 digits} {key}, key = 97 - number mod 97.
		start := len(dst)
		if u.female {
			dst = append(dst, '2')
		} else {
			dst = append(dst, '1')
		}
		dst = appendPad(dst, u.dob.y%100, 2)
		dst = appendPad(dst, u.dob.mo-1, 2)
		dst = appendDigits(dst, r, 8)
		num, _ := strconv.ParseUint(string(dst[start:]), 10, 64)
		dst = append(dst, ' ')
		return appendPad(dst, int(97-num%97), 2)
	case "GB":
		return appendTemplate(dst, tplNINO, r)
	case "IE":
		dst = appendDigits(dst, r, 7)
		return append(dst, 'T')
	case "IN":
		return appendDigits(dst, r, 12)
	case "MX":
		return appendTemplate(dst, tplNSS, r)
	case "NL":
		return appendDigits(dst, r, 8)
	case "NO":
		return appendFN(dst, u, r)
	case "US":
		// No area 000, 666 or 9xx, no group 00, no serial 0000.
		area := 1 + r.intn(898)
		if area >= 666 {
			area++
		}
		dst = appendPad(dst, area, 3)
		dst = append(dst, '-')
		dst = appendPad(dst, 1+r.intn(99), 2)
		dst = append(dst, '-')
		return appendPad(dst, 1+r.intn(9999), 4)
	case "LEGO":
		return appendDigits(dst, r, 12)
	}
	return dst
}

var (
	tplCPF  = templates("###.###.###-##")
	tplAVS  = templates("756.####.####.##")
	tplDNI  = templates("########-@")
	tplHETU = templates("NaNNA###undefined")
	tplNINO = templates("[ABCEGHJKLMNOPRSTWXYZ][ABCEGHJKLMNPRSTWXYZ] ## ## ## [ABCD]")
	tplNSS  = templates("## ## ## #### #")
)

func appendDDMMYY(dst []byte, c civil) []byte {
	dst = appendPad(dst, c.d, 2)
	dst = appendPad(dst, c.mo, 2)
	return appendPad(dst, c.y-1900, 2)
}

// appendFN writes a Norwegian fødselsnummer: DDMMYY, an individual number
// (odd for men) and two mod-11 check digits, drawing again, as the API
// does, when a check digit would be 10 or the last digit 0.
func appendFN(dst []byte, u *user, r *rng) []byte {
	var d [11]int
	c := u.dob
	d[0], d[1], d[2], d[3], d[4], d[5] = c.d/10, c.d%10, c.mo/10, c.mo%10, c.y%100/10, c.y%10
	w1 := [9]int{3, 7, 6, 1, 8, 9, 4, 5, 2}
	w2 := [10]int{5, 4, 3, 2, 7, 6, 5, 4, 3, 2}
	for try := 0; ; try++ {
		no := 499 - r.intn(500)
		if c.y >= 2000 {
			no = 999 - r.intn(500)
		}
		if (no&1 == 1) == u.female {
			no--
		}
		d[6], d[7], d[8] = no/100, no/10%10, no%10
		k1 := 0
		for i, w := range w1 {
			k1 += w * d[i]
		}
		if k1 = (11 - k1%11) % 11; k1 == 10 {
			continue
		}
		d[9] = k1
		k2 := 0
		for i, w := range w2 {
			k2 += w * d[i]
		}
		if k2 = (11 - k2%11) % 11; (k2 == 10 || k2 == 0) && try < 100 {
			continue
		}
		d[10] = k2 % 10
		break
	}
	for _, v := range d {
		dst = append(dst, byte('0'+v))
	}
	return dst
}

func appendCoord(dst []byte, v int) []byte {
	if v < 0 {
		dst = append(dst, '-')
		v = -v
	}
	dst = strconv.AppendInt(dst, int64(v/10000), 10)
	dst = append(dst, '.')
	return appendPad(dst, v%10000, 4)
}

func appendPicture(dst []byte, u *user, size string) []byte {
	dst = append(dst, "https://randomuser.me/api/portraits/"...)
	dst = append(dst, size...)
	switch {
	case u.nat == lego:
		dst = append(dst, "lego/"...)
	case u.female:
		dst = append(dst, "women/"...)
	default:
		dst = append(dst, "men/"...)
	}
	dst = strconv.AppendInt(dst, int64(u.portrait), 10)
	return append(dst, ".jpg"...)
}

// appendJSONString appends s quoted, escaping what JSON requires. Like the
// API, it leaves non-ASCII characters unescaped.
func appendJSONString(dst []byte, s []byte) []byte {
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, `\u00`...)
			dst = append(dst, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// appendUserJSON writes one user in the API's compact form and key order.
// Table strings are written unescaped: a test checks they need no escaping.
func appendUserJSON(dst []byte, u *user, fields uint16) []byte {
	dst = append(dst, '{')
	comma := false
	key := func(k string) {
		if comma {
			dst = append(dst, ',')
		}
		comma = true
		dst = append(dst, '"')
		dst = append(dst, k...)
		dst = append(dst, '"', ':')
	}
	str := func(s string) {
		dst = append(dst, '"')
		dst = append(dst, s...)
		dst = append(dst, '"')
	}
	if fields&fGender != 0 {
		key("gender")
		if u.female {
			str("female")
		} else {
			str("male")
		}
	}
	if fields&fName != 0 {
		key("name")
		dst = append(dst, `{"title":"`...)
		dst = append(dst, u.title...)
		dst = append(dst, `","first":"`...)
		dst = append(dst, u.first.s...)
		dst = append(dst, `","last":"`...)
		dst = append(dst, u.last.s...)
		dst = append(dst, `"}`...)
	}
	if fields&fLocation != 0 {
		key("location")
		dst = append(dst, `{"street":{"number":`...)
		dst = strconv.AppendInt(dst, int64(u.streetNo), 10)
		dst = append(dst, `,"name":"`...)
		dst = append(dst, u.street...)
		dst = append(dst, `"},"city":"`...)
		dst = append(dst, u.city...)
		dst = append(dst, `","state":"`...)
		dst = append(dst, u.state...)
		if u.nat.country != "" {
			dst = append(dst, `","country":"`...)
			dst = append(dst, u.nat.country...)
		}
		dst = append(dst, `","postcode":`...)
		if u.postLen > 0 {
			dst = append(dst, '"')
			dst = append(dst, u.post[:u.postLen]...)
			dst = append(dst, '"')
		} else {
			dst = strconv.AppendInt(dst, int64(u.postNum), 10)
		}
		dst = append(dst, `,"coordinates":{"latitude":"`...)
		dst = appendCoord(dst, u.lat)
		dst = append(dst, `","longitude":"`...)
		dst = appendCoord(dst, u.lng)
		dst = append(dst, `"},"timezone":{"offset":"`...)
		dst = append(dst, timezones[u.tz][0]...)
		dst = append(dst, `","description":"`...)
		dst = append(dst, timezones[u.tz][1]...)
		dst = append(dst, `"}}`...)
	}
	if fields&fEmail != 0 {
		key("email")
		dst = append(dst, '"')
		dst = appendEmail(dst, u)
		dst = append(dst, '"')
	}
	if fields&fLogin != 0 {
		key("login")
		dst = append(dst, `{"uuid":"`...)
		dst = append(dst, u.uuid[:]...)
		dst = append(dst, `","username":"`...)
		dst = append(dst, u.username[:u.userLen]...)
		dst = append(dst, `","password":`...)
		dst = appendJSONString(dst, u.password[:u.passLen])
		dst = append(dst, `,"salt":"`...)
		dst = append(dst, u.salt[:]...)
		dst = append(dst, `","md5":"`...)
		dst = append(dst, u.md5[:]...)
		dst = append(dst, `","sha1":"`...)
		dst = append(dst, u.sha1[:]...)
		dst = append(dst, `","sha256":"`...)
		dst = append(dst, u.sha256[:]...)
		dst = append(dst, `"}`...)
	}
	if fields&fDOB != 0 {
		key("dob")
		dst = append(dst, `{"date":"`...)
		dst = appendISO(dst, u.dob)
		dst = append(dst, `","age":`...)
		dst = strconv.AppendInt(dst, int64(u.dobAge), 10)
		dst = append(dst, '}')
	}
	if fields&fRegistered != 0 {
		key("registered")
		dst = append(dst, `{"date":"`...)
		dst = appendISO(dst, u.reg)
		dst = append(dst, `","age":`...)
		dst = strconv.AppendInt(dst, int64(u.regAge), 10)
		dst = append(dst, '}')
	}
	if fields&fPhone != 0 {
		key("phone")
		dst = append(dst, '"')
		dst = append(dst, u.phone[:u.phoneLen]...)
		dst = append(dst, '"')
	}
	if fields&fCell != 0 {
		key("cell")
		dst = append(dst, '"')
		dst = append(dst, u.cell[:u.cellLen]...)
		dst = append(dst, '"')
	}
	if fields&fID != 0 {
		key("id")
		dst = append(dst, `{"name":"`...)
		dst = append(dst, u.nat.idName...)
		if u.idLen == 0 {
			dst = append(dst, `","value":null}`...)
		} else {
			dst = append(dst, `","value":"`...)
			dst = append(dst, u.id[:u.idLen]...)
			dst = append(dst, `"}`...)
		}
	}
	if fields&fPicture != 0 {
		key("picture")
		dst = append(dst, `{"large":"`...)
		dst = appendPicture(dst, u, "")
		dst = append(dst, `","medium":"`...)
		dst = appendPicture(dst, u, "med/")
		dst = append(dst, `","thumbnail":"`...)
		dst = appendPicture(dst, u, "thumb/")
		dst = append(dst, `"}`...)
	}
	if fields&fNat != 0 {
		key("nat")
		str(u.nat.code)
	}
	return append(dst, '}')
}

func appendEmail(dst []byte, u *user) []byte {
	dst = append(dst, u.first.email...)
	dst = append(dst, '.')
	dst = append(dst, u.last.email...)
	if u.rev > 0 {
		// A changed user's address carries its revision, so every
		// revision has another one (and none is another user's base one).
		dst = strconv.AppendInt(dst, int64(u.rev), 10)
	}
	return append(dst, "@example.com"...)
}

// csvColumns lists the CSV header per field, in the API's column order.
var csvColumns = []struct {
	bit  uint16
	cols []string
}{
	{fGender, []string{"gender"}},
	{fName, []string{"name.title", "name.first", "name.last"}},
	{fLocation, []string{"location.street.number", "location.street.name", "location.city", "location.state",
		"location.country", "location.postcode", "location.coordinates.latitude", "location.coordinates.longitude",
		"location.timezone.offset", "location.timezone.description"}},
	{fEmail, []string{"email"}},
	{fLogin, []string{"login.uuid", "login.username", "login.password", "login.salt", "login.md5", "login.sha1", "login.sha256"}},
	{fDOB, []string{"dob.date", "dob.age"}},
	{fRegistered, []string{"registered.date", "registered.age"}},
	{fPhone, []string{"phone"}},
	{fCell, []string{"cell"}},
	{fID, []string{"id.name", "id.value"}},
	{fPicture, []string{"picture.large", "picture.medium", "picture.thumbnail"}},
	{fNat, []string{"nat"}},
}

func appendCSVHeader(dst []byte, fields uint16, legoOnly bool) []byte {
	first := true
	for _, c := range csvColumns {
		if fields&c.bit == 0 {
			continue
		}
		for _, col := range c.cols {
			if legoOnly && col == "location.country" {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, col...)
		}
	}
	return dst
}

// appendCSVField appends a value, quoted if it holds a comma, quote or
// newline (json-2-csv's rule).
func appendCSVField(dst []byte, v []byte) []byte {
	if !strings.ContainsAny(string(v), ",\"\n\r") {
		return append(dst, v...)
	}
	dst = append(dst, '"')
	for _, c := range v {
		if c == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}

// appendUserCSV writes one CSV row; scratch is reused for formatted values.
func appendUserCSV(dst []byte, u *user, fields uint16, scratch []byte) ([]byte, []byte) {
	first := true
	f := func(v []byte) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendCSVField(dst, v)
	}
	s := func(v string) { f([]byte(v)) }
	num := func(n int) {
		scratch = strconv.AppendInt(scratch[:0], int64(n), 10)
		f(scratch)
	}
	if fields&fGender != 0 {
		if u.female {
			s("female")
		} else {
			s("male")
		}
	}
	if fields&fName != 0 {
		s(u.title)
		s(u.first.s)
		s(u.last.s)
	}
	if fields&fLocation != 0 {
		num(u.streetNo)
		s(u.street)
		s(u.city)
		s(u.state)
		if u.nat.country != "" {
			s(u.nat.country)
		}
		if u.postLen > 0 {
			f(u.post[:u.postLen])
		} else {
			num(u.postNum)
		}
		scratch = appendCoord(scratch[:0], u.lat)
		f(scratch)
		scratch = appendCoord(scratch[:0], u.lng)
		f(scratch)
		s(timezones[u.tz][0])
		s(timezones[u.tz][1])
	}
	if fields&fEmail != 0 {
		scratch = appendEmail(scratch[:0], u)
		f(scratch)
	}
	if fields&fLogin != 0 {
		f(u.uuid[:])
		f(u.username[:u.userLen])
		f(u.password[:u.passLen])
		f(u.salt[:])
		f(u.md5[:])
		f(u.sha1[:])
		f(u.sha256[:])
	}
	if fields&fDOB != 0 {
		scratch = appendISO(scratch[:0], u.dob)
		f(scratch)
		num(u.dobAge)
	}
	if fields&fRegistered != 0 {
		scratch = appendISO(scratch[:0], u.reg)
		f(scratch)
		num(u.regAge)
	}
	if fields&fPhone != 0 {
		f(u.phone[:u.phoneLen])
	}
	if fields&fCell != 0 {
		f(u.cell[:u.cellLen])
	}
	if fields&fID != 0 {
		s(u.nat.idName)
		if u.idLen == 0 {
			s("null")
		} else {
			f(u.id[:u.idLen])
		}
	}
	if fields&fPicture != 0 {
		for _, size := range [3]string{"", "med/", "thumb/"} {
			scratch = appendPicture(scratch[:0], u, size)
			f(scratch)
		}
	}
	if fields&fNat != 0 {
		s(u.nat.code)
	}
	return dst, scratch
}

// formatPage formats a page number as JavaScript prints a Number.
func formatPage(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
