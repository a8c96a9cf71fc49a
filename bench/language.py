"""Accuracy of language detection on short customer messages, per language.

    .venv/bin/python bench/language.py [--lingua]

The sentences below were written for this bench: short customer-service questions and
complaints (3–20 words), the way people type them into a chat widget, with some missing
accents and casual spelling. English is also measured on BANKING77's test split when
/work/shared/data is on disk (real customer queries; CC BY 4.0, Casanueva et al. 2020).

Columns: the old script-only guess (``knowledge_base.text`` before language.py: every
Latin-script text got the caller's default), the chosen detector with no candidates, the
same restricted to the knowledge base's locales {en, th, zh, fa} plus the row's own language
(how the FAQ bot calls it), and, with ``--lingua`` when lingua-language-detector is importable,
lingua over the same language set. The default here is "und", so falling back to it counts as
wrong for every row, English included (in the product it would be the conversation's locale).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowledge_base import language

DEFAULT = "und"
KB_LOCALES = ("en", "th", "zh", "fa")
BANKING77 = Path("/work/shared/data/banking77/test.csv")

SENTENCES: dict[str, list[str]] = {
    "en": [
        "Where is my order? It was supposed to arrive yesterday",
        "How do I reset my password",
        "I was charged twice for the same subscription",
        "Can I change the delivery address after ordering?",
        "my package says delivered but I never got it",
        "Do you ship to Canada and how long does it take",
        "I want to cancel my account please",
        "The app keeps crashing when I open the payment page",
        "Is there a discount code for students?",
        "How can I get a refund for a damaged item",
        "what time does customer support close today",
        "I can't log in, it says my email is not registered",
        "Can I pay with PayPal or only by card?",
        "The size doesn't fit, how do I exchange it",
        "Why is my card being declined",
        "please send me an invoice for my last purchase",
        "How long is the warranty on this laptop",
        "I haven't received the confirmation email yet",
        "Can someone call me back about my complaint",
        "is this product available in black",
    ],
    "es": [
        "¿Dónde está mi pedido? Debía llegar ayer",
        "¿Cómo cambio mi contraseña?",
        "Me cobraron dos veces la misma suscripción",
        "Quiero cancelar mi cuenta por favor",
        "el paquete dice entregado pero no me llegó nada",
        "¿Hacen envíos a México y cuánto tarda?",
        "¿Puedo pagar con tarjeta de débito?",
        "La aplicación se cierra cuando intento pagar",
        "necesito la factura de mi última compra",
        "¿Tienen descuento para estudiantes?",
        "Hola, quisiera saber el estado de mi reembolso",
        "no puedo iniciar sesion en mi cuenta",
        "¿Cuánto cuesta el envío a Colombia?",
        "La talla no me queda, ¿cómo lo cambio?",
        "¿Por qué rechazan mi tarjeta?",
        "¿Cuál es el horario de atención al cliente?",
        "El producto llegó roto, quiero una devolución",
        "¿Este modelo está disponible en color negro?",
        "todavia no recibo el correo de confirmacion",
        "¿Me pueden llamar para resolver mi reclamo?",
    ],
    "fr": [
        "Où en est ma commande ? Elle devait arriver hier",
        "Comment réinitialiser mon mot de passe",
        "J'ai été débité deux fois pour le même abonnement",
        "Je voudrais annuler mon compte s'il vous plaît",
        "le colis est marqué livré mais je ne l'ai pas reçu",
        "Livrez-vous en Belgique et en combien de temps ?",
        "Est-ce que je peux payer par PayPal ?",
        "L'application plante quand je veux payer",
        "j'ai besoin d'une facture pour mon dernier achat",
        "Y a-t-il une réduction pour les étudiants ?",
        "Bonjour, où en est mon remboursement ?",
        "je n'arrive pas a me connecter a mon compte",
        "Combien coûte la livraison en Suisse ?",
        "La taille ne me va pas, comment faire un échange ?",
        "Pourquoi ma carte est refusée ?",
        "Quels sont les horaires du service client ?",
        "Le produit est arrivé cassé, je veux être remboursé",
        "Ce modèle existe-t-il en noir ?",
        "je n'ai toujours pas reçu l'email de confirmation",
        "Pouvez-vous me rappeler au sujet de ma réclamation ?",
    ],
    "de": [
        "Wo ist meine Bestellung? Sie sollte gestern ankommen",
        "Wie kann ich mein Passwort zurücksetzen",
        "Mir wurde dasselbe Abo zweimal abgebucht",
        "Ich möchte mein Konto bitte kündigen",
        "das Paket steht als zugestellt aber ich habe nichts bekommen",
        "Liefert ihr auch nach Österreich und wie lange dauert das?",
        "Kann ich mit Kreditkarte bezahlen?",
        "Die App stürzt ab, wenn ich bezahlen will",
        "ich brauche eine Rechnung für meinen letzten Einkauf",
        "Gibt es einen Rabatt für Studenten?",
        "Hallo, wie ist der Stand meiner Rückerstattung?",
        "ich kann mich nicht in mein Konto einloggen",
        "Was kostet der Versand in die Schweiz?",
        "Die Größe passt nicht, wie kann ich umtauschen?",
        "Warum wird meine Karte abgelehnt?",
        "Wann ist der Kundenservice erreichbar?",
        "Das Produkt kam kaputt an, ich will mein Geld zurück",
        "Gibt es das Modell auch in Schwarz?",
        "ich habe die Bestätigungsmail immer noch nicht bekommen",
        "Können Sie mich wegen meiner Beschwerde zurückrufen?",
    ],
    "pt": [
        "Cadê meu pedido? Era para chegar ontem",
        "Como faço para trocar minha senha",
        "Fui cobrado duas vezes pela mesma assinatura",
        "Quero cancelar minha conta por favor",
        "o pacote diz entregue mas eu não recebi nada",
        "Vocês entregam em Portugal e quanto tempo demora?",
        "Posso pagar com boleto ou Pix?",
        "O aplicativo fecha sozinho quando vou pagar",
        "preciso da nota fiscal da minha última compra",
        "Tem desconto para estudantes?",
        "Olá, gostaria de saber como está meu reembolso",
        "não consigo entrar na minha conta",
        "Quanto custa o frete para o Rio de Janeiro?",
        "O tamanho não serviu, como faço a troca?",
        "Por que meu cartão está sendo recusado?",
        "Qual é o horário de atendimento?",
        "O produto chegou quebrado, quero devolver",
        "Esse modelo tem na cor preta?",
        "ainda nao recebi o email de confirmacao",
        "Vocês podem me ligar sobre a minha reclamação?",
    ],
    "it": [
        "Dov'è il mio ordine? Doveva arrivare ieri",
        "Come posso reimpostare la password",
        "Mi avete addebitato due volte lo stesso abbonamento",
        "Vorrei cancellare il mio account per favore",
        "il pacco risulta consegnato ma non l'ho ricevuto",
        "Spedite anche in Svizzera e quanto ci vuole?",
        "Posso pagare con la carta di credito?",
        "L'app si blocca quando provo a pagare",
        "mi serve la fattura dell'ultimo acquisto",
        "C'è uno sconto per gli studenti?",
        "Buongiorno, a che punto è il mio rimborso?",
        "non riesco ad accedere al mio account",
        "Quanto costa la spedizione in Sicilia?",
        "La taglia non va bene, come faccio il cambio?",
        "Perché la mia carta viene rifiutata?",
        "Quali sono gli orari del servizio clienti?",
        "Il prodotto è arrivato rotto, voglio il reso",
        "Questo modello c'è anche nero?",
        "non ho ancora ricevuto la mail di conferma",
        "Potete richiamarmi per il mio reclamo?",
    ],
    "nl": [
        "Waar is mijn bestelling? Die zou gisteren komen",
        "Hoe kan ik mijn wachtwoord resetten",
        "Ik heb twee keer betaald voor hetzelfde abonnement",
        "Ik wil graag mijn account opzeggen",
        "het pakket staat op bezorgd maar ik heb niks ontvangen",
        "Leveren jullie ook in België en hoe lang duurt dat?",
        "Kan ik betalen met iDEAL?",
        "De app loopt vast als ik wil afrekenen",
        "ik heb een factuur nodig van mijn laatste aankoop",
        "Is er korting voor studenten?",
        "Hallo, hoe staat het met mijn terugbetaling?",
        "ik kan niet inloggen op mijn account",
        "Wat kost de verzending naar Duitsland?",
        "De maat past niet, hoe kan ik ruilen?",
        "Waarom wordt mijn pas geweigerd?",
        "Wanneer is de klantenservice bereikbaar?",
        "Het product kwam kapot aan, ik wil mijn geld terug",
        "Is dit model ook in het zwart verkrijgbaar?",
        "ik heb de bevestigingsmail nog steeds niet gekregen",
        "Kunnen jullie me terugbellen over mijn klacht?",
    ],
    "id": [
        "Pesanan saya di mana ya? Harusnya sampai kemarin",
        "Bagaimana cara ganti kata sandi",
        "Saya ditagih dua kali untuk langganan yang sama",
        "Saya mau tutup akun saya",
        "paketnya katanya sudah diterima tapi saya belum dapat",
        "Apakah bisa kirim ke Surabaya dan berapa lama?",
        "Bisa bayar pakai GoPay atau OVO?",
        "Aplikasinya keluar sendiri waktu saya mau bayar",
        "saya butuh faktur untuk pembelian terakhir",
        "Ada diskon untuk mahasiswa nggak?",
        "Halo kak, pengembalian dana saya sudah diproses belum?",
        "saya tidak bisa masuk ke akun saya",
        "Berapa ongkos kirim ke Bandung?",
        "Ukurannya tidak pas, bagaimana cara tukar?",
        "Kenapa kartu saya ditolak terus?",
        "Jam operasional layanan pelanggan sampai jam berapa?",
        "Barangnya datang dalam keadaan rusak, saya minta retur",
        "Model ini ada warna hitam tidak?",
        "email konfirmasinya belum masuk juga",
        "Tolong hubungi saya soal keluhan saya",
    ],
    "ms": [
        "Di mana pesanan saya? Sepatutnya sampai semalam",
        "Macam mana nak tukar kata laluan",
        "Saya dikenakan caj dua kali untuk langganan yang sama",
        "Saya nak batalkan akaun saya",
        "bungkusan tu kata dah dihantar tapi saya tak terima pun",
        "Boleh hantar ke Sabah tak dan berapa lama?",
        "Boleh bayar guna kad debit?",
        "Aplikasi asyik tertutup bila saya nak buat bayaran",
        "saya perlukan invois untuk pembelian terakhir",
        "Ada diskaun untuk pelajar tak?",
        "Hai, bayaran balik saya dah diproses ke belum?",
        "saya tak boleh log masuk ke akaun saya",
        "Berapa kos penghantaran ke Johor Bahru?",
        "Saiz tak muat, macam mana nak tukar?",
        "Kenapa kad saya ditolak?",
        "Waktu operasi khidmat pelanggan pukul berapa?",
        "Barang sampai dalam keadaan rosak, saya nak pulangkan",
        "Model ni ada warna hitam tak?",
        "emel pengesahan masih belum sampai",
        "Tolong telefon saya berkenaan aduan saya",
    ],
    "vi": [
        "Đơn hàng của tôi đâu rồi? Lẽ ra hôm qua phải đến",
        "Làm sao để đổi mật khẩu",
        "Tôi bị trừ tiền hai lần cho cùng một gói",
        "Tôi muốn hủy tài khoản",
        "đơn báo đã giao nhưng tôi chưa nhận được",
        "Shop có giao ra Hà Nội không, mất bao lâu?",
        "Tôi có thể thanh toán bằng thẻ tín dụng không?",
        "Ứng dụng bị thoát khi tôi thanh toán",
        "tôi cần hóa đơn cho lần mua gần nhất",
        "Có giảm giá cho sinh viên không ạ?",
        "Chào shop, tiền hoàn của tôi xử lý chưa?",
        "tôi không đăng nhập được vào tài khoản",
        "Phí vận chuyển vào Sài Gòn là bao nhiêu?",
        "Size không vừa, đổi hàng như thế nào?",
        "Tại sao thẻ của tôi bị từ chối?",
        "Bộ phận chăm sóc khách hàng làm việc mấy giờ?",
        "Hàng về bị vỡ, tôi muốn trả lại",
        "Mẫu này có màu đen không?",
        "toi van chua nhan duoc email xac nhan",
        "Vui lòng gọi lại cho tôi về khiếu nại",
    ],
    "tr": [
        "Siparişim nerede? Dün gelmesi gerekiyordu",
        "Şifremi nasıl sıfırlayabilirim",
        "Aynı abonelik için iki kez ücret alındı",
        "Hesabımı kapatmak istiyorum lütfen",
        "kargo teslim edildi görünüyor ama bana ulaşmadı",
        "Almanya'ya gönderim yapıyor musunuz, kaç gün sürer?",
        "Kapıda ödeme yapabilir miyim?",
        "Ödeme yaparken uygulama kapanıyor",
        "son alışverişim için fatura lazım",
        "Öğrencilere indirim var mı?",
        "Merhaba, iadem ne durumda?",
        "hesabıma giriş yapamıyorum",
        "İzmir'e kargo ücreti ne kadar?",
        "Beden olmadı, nasıl değişim yapabilirim?",
        "Kartım neden reddediliyor?",
        "Müşteri hizmetleri saat kaça kadar açık?",
        "Ürün kırık geldi, iade etmek istiyorum",
        "Bu modelin siyahı var mı?",
        "onay maili hala gelmedi",
        "Şikayetim için beni arayabilir misiniz?",
    ],
    "th": [
        "ของที่สั่งไปยังไม่ได้รับเลยค่ะ",
        "เปลี่ยนรหัสผ่านยังไงครับ",
        "โดนตัดเงินสองครั้งค่ะ",
        "อยากยกเลิกบัญชีครับ",
        "iphone16ราคาเท่าไหร่",
        "ส่งต่างประเทศได้ไหมคะ",
        "จ่ายผ่านพร้อมเพย์ได้ไหม",
        "แอปเด้งออกตอนจ่ายเงิน",
        "ขอใบกำกับภาษีหน่อยค่ะ",
        "มีส่วนลดนักศึกษาไหมครับ",
    ],
    "zh": [
        "我的订单什么时候到？",
        "怎么修改密码",
        "我被重复扣款了",
        "我想注销账号",
        "快递显示已签收但我没收到",
        "我的訂單什麼時候到？",
        "怎麼修改密碼",
        "可以用信用卡付款嗎",
        "退款進度如何",
        "iPhone 16 有货吗",
    ],
    "ja": [
        "注文した商品がまだ届きません",
        "パスワードを変更したいです",
        "二重に請求されています",
        "アカウントを削除したい",
        "配送状況を教えてください",
        "返品はできますか",
        "クレジットカードで払えますか",
        "iPhone 16の在庫はありますか",
        "領収書を発行してほしいです",
        "サイズを交換したいのですが",
    ],
    "ko": [
        "주문한 상품이 아직 안 왔어요",
        "비밀번호를 바꾸고 싶어요",
        "결제가 두 번 됐어요",
        "계정을 탈퇴하고 싶습니다",
        "배송 조회는 어떻게 하나요",
        "환불 받을 수 있나요",
        "카드로 결제 가능한가요",
        "iPhone 16 재고 있나요",
        "영수증 발급해 주세요",
        "사이즈 교환 가능한가요",
    ],
    "fa": [
        "سفارشم هنوز نرسیده",
        "چطور رمز عبورم را عوض کنم؟",
        "دو بار از حسابم پول کم شده",
        "می‌خواهم حسابم را ببندم",
        "بسته تحویل شده ولی به دستم نرسیده",
        "به شیراز هم ارسال دارید؟",
        "با کارت بانکی می‌شود پرداخت کرد؟",
        "برنامه موقع پرداخت بسته می‌شود",
        "فاکتور خرید آخرم را می‌خواهم",
        "برای دانشجوها تخفیف دارید؟",
    ],
    "ar": [
        "أين طلبي؟ كان من المفترض أن يصل أمس",
        "كيف أغير كلمة المرور",
        "تم خصم المبلغ مرتين",
        "أريد إلغاء حسابي",
        "الطرد مسجل أنه تم التسليم لكنني لم أستلمه",
        "هل تشحنون إلى الرياض؟",
        "هل يمكن الدفع عند الاستلام؟",
        "التطبيق يغلق عند الدفع",
        "أحتاج فاتورة آخر مشترياتي",
        "هل يوجد خصم للطلاب؟",
    ],
}


def banking77(limit: int = 300) -> list[str]:
    """Every tenth BANKING77 test query, up to ``limit``, when the data set is on disk."""
    if not BANKING77.exists():
        return []
    with BANKING77.open(newline="", encoding="utf-8") as f:
        rows = [row["text"] for row in csv.DictReader(f)]
    return rows[::10][:limit]


def old_guess(text: str) -> str:
    """The script-only guess knowledge_base.text made before language.py (Latin → default)."""
    script_language = language.detect_script(text)
    return script_language.language if script_language.language != "latin" else DEFAULT


def lingua_detector(languages: set[str]) -> Callable[[str], str] | None:
    try:
        from lingua import IsoCode639_1, LanguageDetectorBuilder
    except ImportError:
        return None
    codes = [getattr(IsoCode639_1, code.upper()) for code in sorted(languages)]
    detector = LanguageDetectorBuilder.from_iso_codes_639_1(*codes).build()

    def detect(text: str) -> str:
        found = detector.detect_language_of(text)  # lingua's own call; None when unsure
        return DEFAULT if found is None else str(found.iso_code_639_1.name.lower())

    return detect


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lingua", action="store_true", help="add lingua as a column")
    args = parser.parse_args()

    data = {lang: list(texts) for lang, texts in SENTENCES.items()}
    real = banking77()
    if real:
        data["en:b77"] = real

    t0 = time.perf_counter()
    language.detect("warm up the model")
    load = time.perf_counter() - t0

    columns: dict[str, Callable[[str, str], str]] = {
        "old": lambda text, lang: old_guess(text),
        "new": lambda text, lang: language.detect_language(text, default=DEFAULT),
        "new+kb": lambda text, lang: language.detect_language(
            text, default=DEFAULT, candidates={*KB_LOCALES, lang}
        ),
    }
    if args.lingua:
        lingua = lingua_detector({lang.split(":")[0] for lang in data})
        if lingua is None:
            print("lingua-language-detector is not installed; column left out")
        else:
            columns["lingua"] = lambda text, lang: lingua(text)

    print(f"{'language':<9}{'n':>5}" + "".join(f"{name:>9}" for name in columns))
    totals = dict.fromkeys(columns, 0)
    times = dict.fromkeys(columns, 0.0)
    count = 0
    for lang, texts in data.items():
        want = lang.split(":")[0]
        row = f"{lang:<9}{len(texts):>5}"
        for name, fn in columns.items():
            t = time.perf_counter()
            right = sum(fn(text, want) == want for text in texts)
            times[name] += time.perf_counter() - t
            totals[name] += right
            row += f"{right / len(texts):>9.0%}"
        count += len(texts)
        print(row)
    print(f"{'all':<9}{count:>5}" + "".join(f"{totals[n] / count:>9.1%}" for n in columns))
    print(
        f"{'ms/text':<14}"
        + "".join(f"{times[n] / count * 1000:>9.2f}" for n in columns)
        + f"   (model load {load:.1f} s)"
    )


if __name__ == "__main__":
    main()
