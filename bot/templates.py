"""What the bot and the router say, per locale. English is the fallback."""

from __future__ import annotations

TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "greet": 'Hello! I\'m the virtual assistant. Ask me anything, or type "agent" to talk to a person.',
        "thanks": "You're welcome! Is there anything else I can help with?",
        "goodbye": "Goodbye, and thanks for contacting us!",
        "not_sure": "I'm not sure I understood. Could you rephrase your question? If I still can't help, I'll find a person for you.",
        "escalating": "I'll connect you with a person who can help.",
        "queued": "You're number {position} in the queue. An agent will reply here as soon as possible.",
        "no_agents": "No agent is online right now. Your conversation is saved and an agent will reply here as soon as one is available.",
        "related": "Related articles:",
        "claimed": "{agent} has joined the conversation.",
        "closed": "This conversation has been closed. Write again any time if you need more help.",
        "handback": 'You\'re back with the virtual assistant. Type "agent" any time to talk to a person.',
        "help": 'Ask your question here, or write "agent" to reach a person.',
    },
    "th": {
        "greet": 'สวัสดีครับ ผมเป็นผู้ช่วยอัตโนมัติ ถามได้เลยครับ หรือพิมพ์ "พนักงาน" เพื่อคุยกับเจ้าหน้าที่',
        "thanks": "ยินดีครับ มีอะไรให้ช่วยอีกไหมครับ",
        "goodbye": "ขอบคุณที่ติดต่อเรา สวัสดีครับ",
        "not_sure": "ขออภัย ผมไม่แน่ใจว่าเข้าใจคำถาม ช่วยถามใหม่อีกครั้งได้ไหมครับ ถ้ายังช่วยไม่ได้ ผมจะหาเจ้าหน้าที่ให้ครับ",
        "escalating": "ผมจะติดต่อเจ้าหน้าที่ให้ช่วยคุณครับ",
        "queued": "คุณอยู่ในคิวลำดับที่ {position} เจ้าหน้าที่จะตอบกลับที่นี่โดยเร็วที่สุดครับ",
        "no_agents": "ขณะนี้ไม่มีเจ้าหน้าที่ออนไลน์ บทสนทนาของคุณถูกบันทึกไว้แล้ว เจ้าหน้าที่จะตอบกลับที่นี่ทันทีที่ว่างครับ",
        "related": "บทความที่เกี่ยวข้อง:",
        "claimed": "{agent} เข้าร่วมการสนทนาแล้ว",
        "closed": "การสนทนานี้ปิดแล้ว หากต้องการความช่วยเหลือเพิ่มเติม ส่งข้อความมาได้ทุกเมื่อครับ",
        "handback": 'คุณกลับมาคุยกับผู้ช่วยอัตโนมัติแล้ว พิมพ์ "พนักงาน" ได้ทุกเมื่อเพื่อคุยกับเจ้าหน้าที่',
    },
    "zh": {
        "greet": "您好！我是智能助手。请直接提问，或输入“人工”联系客服人员。",
        "thanks": "不客气！还有什么可以帮您？",
        "goodbye": "再见，感谢您的联系！",
        "not_sure": "抱歉，我没有完全理解。您能换个说法吗？如果我仍然无法帮助您，我会为您转接人工客服。",
        "escalating": "我将为您转接人工客服。",
        "queued": "您目前排在第 {position} 位。客服人员会尽快在这里回复您。",
        "no_agents": "目前没有客服在线。您的对话已保存，客服上线后会在这里回复您。",
        "related": "相关文章：",
        "claimed": "{agent} 已加入对话。",
        "closed": "此对话已结束。如需更多帮助，请随时留言。",
        "handback": "您已回到智能助手。随时输入“人工”即可联系客服人员。",
    },
    "fa": {
        "greet": "سلام! من دستیار مجازی هستم. سؤالتان را بپرسید یا برای گفتگو با اپراتور «اپراتور» را بنویسید.",
        "thanks": "خواهش می‌کنم! کار دیگری هست که بتوانم انجام دهم؟",
        "goodbye": "خداحافظ، از تماس شما سپاسگزاریم!",
        "not_sure": "مطمئن نیستم منظورتان را فهمیده باشم. می‌توانید سؤالتان را طور دیگری بپرسید؟ اگر باز هم نتوانستم کمک کنم، شما را به یک کارشناس وصل می‌کنم.",
        "escalating": "شما را به یک کارشناس وصل می‌کنم.",
        "queued": "شما نفر {position} در صف هستید. کارشناس به‌زودی همین‌جا پاسخ می‌دهد.",
        "no_agents": "در حال حاضر هیچ کارشناسی آنلاین نیست. گفتگوی شما ذخیره شده و کارشناس به محض حضور همین‌جا پاسخ می‌دهد.",
        "related": "مقاله‌های مرتبط:",
        "claimed": "{agent} به گفتگو پیوست.",
        "closed": "این گفتگو بسته شد. هر وقت به کمک بیشتری نیاز داشتید، دوباره پیام بدهید.",
        "handback": "دوباره با دستیار مجازی هستید. هر زمان خواستید «اپراتور» را بنویسید.",
    },
}


def say(key: str, locale: str | None, **values: object) -> str:
    table = TEMPLATES.get((locale or "en").split("-")[0], TEMPLATES["en"])
    return table.get(key, TEMPLATES["en"][key]).format(**values)
